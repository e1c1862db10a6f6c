"""The result pages' charts: each chart's figures (its SVG data attributes) equal the results its
table shows, the state map shades the states the personas live in, labels are readable, and the
population and comparison pages are their owner's only."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from environment.models import Area
from personas.services import AreaWeight, population_create
from studies.analyzers.numeric import Numeric
from studies.charts.labels import dimension_label
from studies.charts.maps import MAP_CLASSES, state_shapes
from studies.charts.pages import item_charts, market_charts, most_chosen
from studies.charts.plots import nice_ticks
from studies.models import Item, Run
from studies.pipeline import run_finalize, run_process_chunk
from studies.services import ItemSpec, run_start, study_create
from tests.studies.test_llm_item_types import config as llm_config
from tests.studies.test_llm_item_types import typed_study  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def svgs(html: str) -> list[ET.Element]:
    """Every chart of a page, parsed (the charts are well-formed XML)."""
    return [ET.fromstring(m) for m in SVG.findall(html)]


def chart(html: str, **attrs: str) -> ET.Element:
    found = [s for s in svgs(html) if all(s.get(k) == v for k, v in attrs.items())]
    assert len(found) == 1, f"{len(found)} charts with {attrs}"
    return found[0]


def bars(svg: ET.Element) -> list[dict]:
    return [
        {k: g.get(f"data-{k}") for k in ("group", "series", "value", "low", "high")}
        for g in svg.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "chart-bar"
    ]


def _finish(run, reporter):
    run_process_chunk(run_id=run.id, start=0, end=run.personas_total, reporter=reporter)
    return run_finalize(run_id=run.id, reporter=reporter)


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def city_run(user, study, reporter):
    population = population_create(
        size=60,
        areas=[AreaWeight("phoenix_az_city"), AreaWeight("dallas_tx_city")],
        seed=11,
        created_by=user,
    )
    run = run_start(
        study=study, population=population, seed=3, backend="poll_cell", created_by=user
    )
    return _finish(run, reporter)


STATES = ("AZ", "MI", "TX")


@pytest.fixture
def state_run(user, study, reporter):
    areas = list(Area.objects.filter(kind=Area.Kind.STATE, state__in=STATES).order_by("state"))
    assert len(areas) == len(STATES)
    population = population_create(
        size=90, areas=[AreaWeight(a.id) for a in areas], seed=7, created_by=user
    )
    run = run_start(
        study=study, population=population, seed=5, backend="poll_cell", created_by=user
    )
    return _finish(run, reporter)


def test_every_result_table_of_a_run_has_its_chart_with_the_tables_figures(browser, city_run):
    page = browser.get(f"/runs/{city_run.id}/").content.decode()
    item = city_run.results["items"][0]
    overall = chart(page, **{"data-dimension": "overall", "data-item": item["code"]})
    assert overall.get("role") == "img" and overall.get("aria-label")
    assert overall.find("{http://www.w3.org/2000/svg}title").text == overall.get("aria-label")
    drawn = bars(overall)
    assert [b["group"] for b in drawn] == [o["label"] for o in item["options"]]
    for bar, option in zip(drawn, item["options"], strict=True):
        assert float(bar["value"]) == pytest.approx(option["share"])
        assert float(bar["low"]) == pytest.approx(option["ci_low"])
        assert float(bar["high"]) == pytest.approx(option["ci_high"])
    # One chart per breakdown dimension with answers, each bar its group's share of an option.
    for dimension, groups in item["breakdowns"].items():
        svg = chart(page, **{"data-dimension": dimension, "data-item": item["code"]})
        expected = [(g["label"], o["label"], o["share"]) for g in groups for o in g["options"]]
        got = [(b["group"], b["series"], float(b["value"])) for b in bars(svg)]
        assert [(g, s) for g, s, _ in got] == [(g, s) for g, s, _ in expected]
        assert np.allclose([v for *_, v in got], [v for *_, v in expected])
    # Cities are drawn as bars, not a map.
    assert not [s for s in svgs(page) if s.get("data-chart") == "map"]


def test_the_live_page_gets_the_same_charts_as_a_fragment(browser, city_run):
    fragment = browser.get(f"/runs/{city_run.id}/charts/")
    assert fragment.status_code == 200
    keys = re.findall(r'data-chart-key="([^"]+)"', fragment.content.decode())
    dimensions = [d for d, g in city_run.results["items"][0]["breakdowns"].items() if g]
    assert keys == ["0:overall", *(f"0:{d}" for d in dimensions)]


def test_a_state_level_run_is_mapped_and_the_map_shades_its_states(browser, state_run):
    page = browser.get(f"/runs/{state_run.id}/").content.decode()
    item = state_run.results["items"][0]
    top = most_chosen(item["options"])
    svg = chart(page, **{"data-chart": "map"})
    assert top["label"] in svg.get("data-measure")
    shaded = {
        p.get("data-fips"): p
        for p in svg.iter("{http://www.w3.org/2000/svg}path")
        if "map-state-data" in (p.get("class") or "")
    }
    fips = dict(Area.objects.filter(state__in=STATES, kind="state").values_list("id", "fips"))
    groups = item["breakdowns"]["area"]
    assert set(shaded) == {fips[g["category"]][:2] for g in groups}
    for group in groups:
        path = shaded[fips[group["category"]][:2]]
        share = next(o["share"] for o in group["options"] if o["code"] == top["code"])
        assert float(path.get("data-value")) == pytest.approx(share)
        assert path.get("fill") == MAP_CLASSES[int(path.get("data-class"))]
    # The highest share is in the darkest class, the lowest in the lightest; others are grey.
    values = {f: float(p.get("data-value")) for f, p in shaded.items()}
    assert shaded[max(values, key=values.get)].get("data-class") == str(len(MAP_CLASSES) - 1)
    assert shaded[min(values, key=values.get)].get("data-class") == "0"
    others = [
        p for p in svg.iter("{http://www.w3.org/2000/svg}path") if p.get("data-fips") not in shaded
    ]
    assert len(others) == len(state_shapes()["states"]) - len(STATES)
    assert {p.get("fill") for p in others} == {"#e5e5e5"}
    legend = [
        g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "map-legend-class"
    ]
    assert len(legend) == len(MAP_CLASSES) + 1  # five classes and "no personas"
    assert float(legend[0].get("data-low")) == pytest.approx(min(values.values()))
    assert float(legend[-2].get("data-high")) == pytest.approx(max(values.values()))


def test_the_map_data_holds_every_state_and_dc_by_fips():
    shapes = state_shapes()["states"]
    assert len(shapes) == 51
    fips = dict(Area.objects.filter(kind="state").values_list("state", "fips"))
    assert shapes[fips["TX"][:2]]["name"] == "Texas"
    assert shapes[fips["DC"][:2]]["name"] == "District of Columbia"
    assert all(s["d"].startswith("M") for s in shapes.values())


def test_labels_are_readable_in_the_tables_and_charts(browser, city_run):
    assert dimension_label("age_bracket") == "Age"
    assert dimension_label("race_ethnicity") == "Race/ethnicity"
    assert dimension_label("home_owner") == "Home owner"
    page = browser.get(f"/runs/{city_run.id}/").content.decode()
    # The table script reads the same mapping the charts use.
    assert '"race_ethnicity": "Race/ethnicity"' in page
    titles = [s.get("aria-label") for s in svgs(page)]
    assert any(" by race/ethnicity:" in t for t in titles)
    assert not any("race_ethnicity" in t or "age_bracket" in t for t in titles)


def test_the_run_page_links_its_study_and_population_and_offers_downloads(browser, city_run):
    page = browser.get(f"/runs/{city_run.id}/").content.decode()
    assert f'href="/studies/{city_run.study_id}/"' in page
    assert f'href="/populations/{city_run.population_id}/"' in page
    for link in (
        f"/api/v1/runs/{city_run.id}/answers/?format=csv",
        f"/api/v1/runs/{city_run.id}/answers/?format=parquet",
        f"/api/v1/runs/{city_run.id}/results/?format=csv",
    ):
        assert f'href="{link}"' in page
        response = browser.get(link)
        assert response.status_code == 200, link
    # The seed sits in the run's details, not the headline.
    assert 'id="run-details"' in page and f'id="run-seed">{city_run.seed}<' in page


def test_numeric_answers_are_drawn_as_quantile_boxes_from_the_analyzers_summary():
    item = Item(code="wtp", text="How much would you pay?", type="numeric", unit="USD")
    values = np.array([0, 5, 10, 12, 20, 25, 40, 55, 80, 120, 200], dtype=float)
    frame = pd.DataFrame({"number": values, "weight": 1.0})
    _, summary = Numeric(item=item, options=[], seed=1).summarize(frame)
    results = {"items": [{"code": "wtp", "text": item.text, "type": "numeric", "n": 11,
                          "options": [], "summary": summary, "breakdowns": {}}]}  # fmt: skip
    svg = ET.fromstring(item_charts(results, {})["0:overall"])
    box = next(
        g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "chart-box"
    )
    for q in (10, 25, 75, 90):
        assert float(box.get(f"data-q{q}")) == pytest.approx(np.quantile(values, q / 100))
    assert float(box.get("data-median")) == pytest.approx(np.median(values))
    assert float(box.get("data-mean")) == pytest.approx(values.mean())
    assert svg.get("data-unit") == "USD"


def test_the_demand_and_revenue_curves_mark_the_optimal_price():
    rows = [(9.99, 40, 30), (14.99, 40, 15), (19.99, 40, 6)]
    from studies.analyzers.pricing import intent_by_price, revenue

    frame = pd.DataFrame(
        [
            {"condition": f"p{i}", "intent": k < buyers}
            for i, (_, n, buyers) in enumerate(rows)
            for k in range(n)
        ]
    )
    prices = {f"p{i}": price for i, (price, _, _) in enumerate(rows)}
    intent = intent_by_price(frame, prices)
    best = max(intent, key=lambda r: r["price"] * r["intent"])["price"]
    charts = market_charts(
        {
            "intent_by_price": intent,
            "revenue": revenue(intent, None),
            "optimal_price": {"price": best},
        }
    )
    demand = ET.fromstring(charts["demand"])
    points = [
        g for g in demand.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "chart-point"
    ]
    assert [float(p.get("data-x")) for p in points] == [r["price"] for r in intent]
    assert [float(p.get("data-y")) for p in points] == pytest.approx([b / n for _, n, b in rows])
    assert [float(p.get("data-low")) for p in points] == pytest.approx(
        [r["ci_low"] for r in intent]
    )
    money = ET.fromstring(charts["revenue"])
    assert float(money.get("data-marked")) == best == 9.99  # 9.99 × 30/40 beats 14.99 × 15/40
    ys = [
        float(g.get("data-y"))
        for g in money.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "chart-point"
    ]
    assert ys == pytest.approx([p * b / n for p, n, b in rows])


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-0.07, 0.12)[0] <= -0.07 and nice_ticks(-0.07, 0.12)[-1] >= 0.12
    assert nice_ticks(9.99, 19.99) == [8, 10, 12, 14, 16, 18, 20]


def test_the_population_page_shows_composition_against_census_targets(browser, city_run):
    population = city_run.population
    page = browser.get(f"/populations/{population.id}/").content.decode()
    report = population.validation_report["overall"]["dimensions"]
    assert f'id="population-seed">{population.seed}<' in page
    assert "Phoenix" in page and "Dallas" in page
    for dimension, entry in report.items():
        svg = chart(page, **{"data-dimension": dimension})
        drawn = bars(svg)
        assert [
            float(b["value"]) for b in drawn if b["series"] == "Census target"
        ] == pytest.approx([c["target"] for c in entry["categories"]])
        assert [float(b["value"]) for b in drawn if b["series"] == "Personas"] == pytest.approx(
            [c["achieved"] for c in entry["categories"]]
        )
    assert "<h3>Race/ethnicity</h3>" in page and "<h3>Age</h3>" in page


@pytest.fixture
def rival(client, django_user_model):
    other = django_user_model.objects.create_user("rival", password="another-long-password")
    client.force_login(other)
    return client


def test_another_users_pages_are_not_found(rival, city_run):
    assert rival.get(f"/populations/{city_run.population_id}/").status_code == 404
    assert rival.get(f"/runs/{city_run.id}/charts/").status_code == 404
    assert rival.get(f"/runs/compare/?a={city_run.id}&b={city_run.id}").status_code == 404


def test_two_runs_compared_side_by_side_with_the_difference(browser, city_run, state_run):
    page = browser.get(f"/runs/compare/?a={city_run.id}&b={state_run.id}")
    assert page.status_code == 200
    html = page.content.decode()
    a, b = city_run.results["items"][0], state_run.results["items"][0]
    svg = chart(html, **{"data-dimension": "comparison"})
    drawn = bars(svg)
    assert [float(x["value"]) for x in drawn if x["series"] == "Run A"] == pytest.approx(
        [o["share"] for o in a["options"]]
    )
    assert [float(x["value"]) for x in drawn if x["series"] == "Run B"] == pytest.approx(
        [o["share"] for o in b["options"]]
    )
    for oa, ob in zip(a["options"], b["options"], strict=True):
        # Independently: statsmodels' Newcombe interval on the two runs' counts (unweighted).
        low, high = confint_proportions_2indep(
            ob["count"], b["n"], oa["count"], a["n"], method="newcomb", compare="diff"
        )
        difference = ob["count"] / b["n"] - oa["count"] / a["n"]
        assert f"{100 * difference:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})" in html
    assert 'id="compare-mismatch"' not in html


def test_runs_whose_items_differ_say_so(browser, city_run, user, reporter, cces_question):
    other = study_create(
        created_by=user,
        title="Another question",
        items=[ItemSpec(code="other", text=cces_question.text, poll_question_id=cces_question.id)],
    )
    run = _finish(
        run_start(
            study=other,
            population=city_run.population,
            seed=1,
            backend="poll_cell",
            created_by=user,
        ),
        reporter,
    )
    html = browser.get(f"/runs/compare/?a={city_run.id}&b={run.id}").content.decode()
    assert 'id="compare-mismatch"' in html
    assert (
        "<code>coverage</code>: only in run A" in html
        and "<code>other</code>: only in run B" in html
    )


def test_a_comparison_without_two_run_ids_says_how_to_ask(browser):
    response = browser.get("/runs/compare/?a=1")
    assert response.status_code == 400
    assert "/runs/compare/?a=&lt;run id&gt;&amp;b=&lt;run id&gt;" in response.content.decode()


def _llm(server) -> dict:
    return {
        "backend": "llm",
        "backend_config": {
            "llm": {"provider": "openai", "model": "gpt-test", "base_url": server.openai_base_url},
            "engine": {"concurrency": 1},
        },
    }


def _page_of(api, browser, run_on_commit, url: str, body: dict) -> tuple[dict, str]:
    started = run_on_commit(api.post, url, body, format="json")
    assert started.status_code == 202, started.json()
    run = Run.objects.get(id=started.json()["run_id"])
    assert run.status == "completed", run.error_message
    return run.results, browser.get(f"/runs/{run.id}/").content.decode()


def test_policy_support_by_state_is_mapped_and_message_lifts_charted(
    api, browser, model_server, run_on_commit
):
    states = dict(
        Area.objects.filter(kind="state", state__in=("AZ", "MI")).values_list("id", "fips")
    )
    body = {
        "policy_description": "A half-cent sales tax for more buses",
        "policy_topic": "transit",
        "target_areas": sorted(states),
        "population_size": 12,
        "seed": 5,
        "messages": ["Buses cut traffic for everyone.", "The tax costs a family $40 a year."],
    } | _llm(model_server)
    results, page = _page_of(
        api, browser, run_on_commit, "/api/v1/political/analyze-environmental", body
    )
    policy = results["policy"]
    areas = bars(chart(page, **{"data-chart": "bars", "data-dimension": "area", "data-item": ""}))
    assert [b["group"] for b in areas] == [r["label"] for r in policy["by_area"]]
    assert [float(b["value"]) for b in areas] == pytest.approx(
        [r["support"]["share"] for r in policy["by_area"]]
    )
    assert [float(b["low"]) for b in areas] == pytest.approx(
        [r["support"]["ci_low"] for r in policy["by_area"]]
    )
    shaded = {
        p.get("data-fips"): float(p.get("data-value"))
        for p in chart(page, **{"data-chart": "map", "data-measure": "Support"}).iter(
            "{http://www.w3.org/2000/svg}path"
        )
        if p.get("data-value")
    }
    assert shaded == pytest.approx(
        {states[r["category"]][:2]: r["support"]["share"] for r in policy["by_area"]}
    )
    lifts = policy["messages"]["overall"]["lifts"]
    drawn = bars(chart(page, **{"data-format": "points"}))
    assert [b["group"] for b in drawn] == [r["condition"] for r in lifts]
    assert [float(b["value"]) for b in drawn] == pytest.approx([r["lift"] for r in lifts])
    assert [float(b["high"]) for b in drawn] == pytest.approx([r["ci_high"] for r in lifts])


def test_the_market_page_draws_the_demand_and_revenue_curves_and_maps_intent(
    api, browser, model_server, run_on_commit
):
    states = dict(
        Area.objects.filter(kind="state", state__in=("AZ", "TX")).values_list("id", "fips")
    )
    body = {
        "product_name": "Smart Home Assistant",
        "product_description": "AI-powered home automation device",
        "price_points": [99.99, 149.99],
        "target_areas": sorted(states),
        "population_size": 16,
        "seed": 2,
    } | _llm(model_server)
    results, page = _page_of(
        api, browser, run_on_commit, "/api/v1/market/analyze-environmental", body
    )
    market = results["market"]
    demand = chart(page, **{"data-chart": "demand"})
    points = [
        g for g in demand.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "chart-point"
    ]
    assert [float(p.get("data-x")) for p in points] == [
        r["price"] for r in market["intent_by_price"]
    ]
    assert [float(p.get("data-y")) for p in points] == pytest.approx(
        [r["intent"] for r in market["intent_by_price"]]
    )
    assert [float(p.get("data-high")) for p in points] == pytest.approx(
        [r["ci_high"] for r in market["intent_by_price"]]
    )
    revenue = chart(page, **{"data-chart": "revenue"})
    assert float(revenue.get("data-marked")) == market["optimal_price"]["price"]
    ys = [
        float(g.get("data-y"))
        for g in revenue.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "chart-point"
    ]
    assert ys == pytest.approx([r["revenue_per_person"] for r in market["revenue"]])
    shaded = {
        p.get("data-fips"): float(p.get("data-value"))
        for p in chart(page, **{"data-measure": "Purchase intent"}).iter(
            "{http://www.w3.org/2000/svg}path"
        )
        if p.get("data-value")
    }
    assert shaded == pytest.approx({states[r["area"]][:2]: r["intent"] for r in market["by_area"]})


def test_every_item_type_has_its_charts_with_the_analyzers_figures(
    browser,
    user,
    model_server,
    typed_study,  # noqa: F811 (the fixture imported above)
    django_capture_on_commit_callbacks,
):
    population = population_create(
        size=8, areas=[AreaWeight("dallas_tx_city")], seed=13, created_by=user
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = run_start(
            study=typed_study,
            population=population,
            backend="llm",
            backend_config=llm_config(model_server),
            seed=1,
            executor="inline",
            created_by=user,
        )
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED, run.error_message
    response = browser.get(f"/runs/{run.id}/")
    assert response.status_code == 200
    page = response.content.decode()
    items = {i["code"]: i for i in run.results["items"]}
    for code in ("levy", "modes", "trust"):  # shares: overall and by condition
        overall = bars(chart(page, **{"data-item": code, "data-dimension": "overall"}))
        assert [float(b["value"]) for b in overall] == pytest.approx(
            [o["share"] for o in items[code]["options"]]
        )
        by_condition = bars(chart(page, **{"data-item": code, "data-dimension": "condition"}))
        assert [float(b["value"]) for b in by_condition] == pytest.approx(
            [o["share"] for c in items[code]["conditions"] for o in c["options"]]
        )
    ranks = bars(chart(page, **{"data-item": "priorities", "data-dimension": "overall"}))
    assert [float(b["value"]) for b in ranks] == pytest.approx(
        [o["mean_rank"] for o in items["priorities"]["options"]]
    )
    numeric = [
        s for s in svgs(page) if s.get("data-chart") == "box" and s.get("data-unit") == "USD"
    ]
    summary = items["wtp"]["summary"]
    medians = [
        float(g.get("data-median"))
        for s in numeric
        if s.get("data-dimension") == "overall"
        for g in s.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "chart-box"
    ]
    assert medians == pytest.approx([summary["median"]])
    assert {s.get("data-dimension") for s in numeric} >= {"overall", "condition", "sex"}
    terms = bars(chart(page, **{"data-item": "why", "data-dimension": "terms"}))
    assert [float(b["value"]) for b in terms] == pytest.approx(
        [t["share"] for t in items["why"]["summary"]["terms"]]
    )
