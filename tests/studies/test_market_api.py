"""The market endpoint end to end on the LLM backend (a local server speaking the OpenAI
protocol): the seed's request, the report's figures against the stored answers, refusals and
ownership."""

from __future__ import annotations

import pandas as pd
import pytest
from rest_framework.test import APIClient
from statsmodels.stats.proportion import proportion_confint

from accounts.models import AuditEvent, Token
from studies.analyzers.market import MarketAnalyzer
from studies.analyzers.pricing import BUYING
from studies.models import Answer, MarketAnalysis, Run
from tests.studies.schema_check import assert_matches_schema

pytestmark = pytest.mark.django_db

# The seed's request body, as written in its "API Specifications".
SEED_MARKET = {
    "product_name": "Smart Home Assistant",
    "product_description": "AI-powered home automation device",
    "price_points": [99.99, 149.99, 199.99],
    "target_areas": ["dallas_tx_city", "phoenix_az_city", "minneapolis_mn_city"],
    "population_size": 1000,
    "include_social_conformity": True,
    "target_market": {
        "age_min": 25,
        "age_max": 55,
        "income": ["50k_75k", "75k_100k", "over_100k"],
    },
}


def _llm(server) -> dict:
    return {
        "backend": "llm",
        "backend_config": {
            "llm": {"provider": "openai", "model": "gpt-test", "base_url": server.openai_base_url},
            "engine": {"concurrency": 1},
        },
    }


def test_the_seed_request_starts_on_the_llm_backend_and_sizes_the_market(api, model_server):
    started = api.post("/api/v1/market/analyze-environmental", SEED_MARKET | _llm(model_server),
                       format="json")  # fmt: skip
    assert started.status_code == 202, started.json()
    report = api.get(started.json()["analysis_url"]).json()
    assert_matches_schema(report, "MarketAnalysisReport")
    assert report["status"] == "queued"
    assert report["progress"]["personas_total"] == 1000
    sizes = report["target_market_by_area"]
    assert set(sizes) == set(SEED_MARKET["target_areas"])
    assert report["target_market_size"] == sum(s["people"] for s in sizes.values())
    assert all(0 < s["share"] < 1 for s in sizes.values())
    analysis = MarketAnalysis.objects.get(pk=report["analysis_id"])
    assert analysis.target_market["income"] == ["50_75k", "75_100k", "100_150k", "150k_plus"]
    assert sorted(analysis.prices.values()) == SEED_MARKET["price_points"]


def test_starting_an_analysis_records_what_it_created_in_the_audit_log(api, user, model_server):
    body = SEED_MARKET | _llm(model_server) | {"target_areas": ["phoenix_az_city"],
                                               "population_size": 16, "seed": 2}  # fmt: skip
    started = api.post("/api/v1/market/analyze-environmental", body, format="json")
    assert started.status_code == 202, started.json()
    analysis = MarketAnalysis.objects.select_related("run").get(pk=started.json()["analysis_id"])
    run = analysis.run
    events = AuditEvent.objects.order_by("id")
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("create", "personas.population", str(run.population_id)),
        ("create", "studies.study", str(run.study_id)),
        ("start", "studies.run", str(run.id)),
        ("create", "studies.marketanalysis", str(analysis.id)),
    ]
    assert all(
        (e.actor, e.owner, e.via, e.ip_address) == (user, user, "api", "127.0.0.1") for e in events
    )
    assert events[2].detail == {
        "backend": "llm",
        "study": run.study_id,
        "population": run.population_id,
    }
    assert events[3].detail == {"run": run.id}


def test_the_seed_request_offline_is_refused_with_a_pointer_to_the_llm_backend(api):
    response = api.post("/api/v1/market/analyze-environmental", SEED_MARKET | {"backend": "poll_model"},
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "market_needs_llm"
    assert '"backend": "llm"' in response.json()["error"]["message"]


def test_a_market_analysis_runs_end_to_end_and_reports_intent_per_price(
    api, model_server, run_on_commit, django_user_model
):
    body = SEED_MARKET | _llm(model_server) | {
        "target_areas": ["phoenix_az_city"], "population_size": 16, "seed": 2,
        "price_points": [99.99, 149.99],
    }  # fmt: skip
    started = run_on_commit(api.post, "/api/v1/market/analyze-environmental", body, format="json")
    assert started.status_code == 202, started.json()
    report = api.get(started.json()["analysis_url"]).json()
    assert report["status"] == "completed", report
    answers = pd.DataFrame(
        Answer.objects.filter(run_id=report["run_id"]).values_list("condition", "option__code"),
        columns=["condition", "code"],
    )
    for row in report["purchase_intent_by_price"]:
        arm = answers[answers["condition"] == row["condition"]]
        buyers = int(arm["code"].isin(BUYING).sum())
        assert row["n"] == len(arm) and row["buyers"] == buyers
        low, high = proportion_confint(buyers, len(arm), alpha=0.05, method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    best = max(report["purchase_intent_by_price"], key=lambda r: r["price"] * r["intent"])
    assert report["optimal_price"] == best["price"]
    for projection, row in zip(
        report["revenue_projections"], report["purchase_intent_by_price"], strict=True
    ):
        assert projection["projected_revenue"] == pytest.approx(
            row["price"] * row["intent"] * report["target_market_size"]
        )
    # Peer influence within each price (include_social_conformity, the seed's default): it
    # starts from the same answers as the demand curve; tests/studies/test_market_influence.py
    # recomputes its figures.
    assert_matches_schema(report, "MarketAnalysisReport")
    effects = report["multi_agent_effects"]
    assert "multi_agent_effects" not in {e["field"] for e in report["not_available"]}
    for row, intent in zip(effects["by_price"], report["purchase_intent_by_price"], strict=True):
        assert (row["price"], row["n"]) == (intent["price"], intent["n"])
        assert row["intent_before"]["share"] == pytest.approx(intent["intent"])
        change = row["intent_after"]["share"] - row["intent_before"]["share"]
        assert row["group_buying_influence"]["estimate"] == pytest.approx(change)
    assert effects["overall"]["n"] == sum(r["n"] for r in report["purchase_intent_by_price"])

    other = django_user_model.objects.create_user("rival", password="another-long-password")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    assert client.get(started.json()["analysis_url"]).status_code == 404


def test_without_social_conformity_the_peer_effects_are_listed_as_not_requested(
    api, model_server, run_on_commit
):
    body = SEED_MARKET | _llm(model_server) | {
        "target_areas": ["phoenix_az_city"], "population_size": 4, "seed": 2,
        "include_social_conformity": False,
    }  # fmt: skip
    report = _finished(api, run_on_commit, body)
    assert "multi_agent_effects" not in report
    reason = next(
        e["reason"] for e in report["not_available"] if e["field"] == "multi_agent_effects"
    )
    assert reason.startswith("Not requested: include_social_conformity is false")


FEATURES = ["Voice control", "Privacy mode", "Energy reports"]


def _finished(api, run_on_commit, body) -> dict:
    started = run_on_commit(api.post, "/api/v1/market/analyze-environmental", body, format="json")
    assert started.status_code == 202, started.json()
    report = api.get(started.json()["analysis_url"]).json()
    assert report["status"] == "completed", report
    return report


def test_feature_ranking_gives_importance_shares_from_the_personas_rankings(
    api, client, user, model_server, run_on_commit
):
    body = SEED_MARKET | _llm(model_server) | {
        "target_areas": ["phoenix_az_city", "dallas_tx_city"], "population_size": 24, "seed": 3,
        "price_points": [99.99, 149.99], "features": FEATURES,
    }  # fmt: skip
    report = _finished(api, run_on_commit, body)
    assert_matches_schema(report, "MarketAnalysisReport")
    preferences = report["feature_preferences"]
    rankings = [
        choices
        for choices in Answer.objects.filter(
            run_id=report["run_id"], item__code="feature_ranking"
        ).values_list("choices", flat=True)
    ]
    codes = [f["code"] for f in preferences["features"]]
    assert [f["label"] for f in preferences["features"]] == FEATURES
    # Independently: Borda points k − rank over their sum k(k − 1)/2 = 3, averaged over personas.
    expected = {c: sum(2 - r.index(c) for r in rankings) / 3 / len(rankings) for c in codes}
    assert preferences["n"] == len(rankings) == 24
    shares = {row["code"]: row["share"] for row in preferences["ranking"]}
    assert shares == pytest.approx(expected)
    assert [row["code"] for row in preferences["ranking"]] == sorted(
        codes, key=lambda c: (-expected[c], codes.index(c))
    )
    assert all(r["ci_low"] <= r["share"] <= r["ci_high"] for r in preferences["ranking"])
    groups = preferences["by_segment"]["area"]["groups"]
    assert {g["category"] for g in groups} == {"phoenix_az_city", "dallas_tx_city"}
    assert sum(g["n"] for g in groups) == 24
    assert "segment" in preferences["by_segment"]
    segmentation = report["market_segmentation"]
    assert segmentation["criterion"] == "highest mean silhouette"
    assert segmentation["k"] == max(segmentation["fit"], key=lambda r: r["silhouette"])["k"]
    assert sum(s["size"] for s in segmentation["segments"]) == 24
    insights = report["environmental_insights"]
    assert set(insights["optimal_launch_markets"]) == {"phoenix_az_city", "dallas_tx_city"}
    intents = [report["environmental_results"][a]["purchase_intent"] for a in body["target_areas"]]
    assert insights["geographic_variation"] == pytest.approx(max(intents) - min(intents))
    for area in body["target_areas"]:
        assert set(report["environmental_results"][area]["social_pressures"]) >= {"economic"}

    # The run page leads with the market headline.
    client.force_login(user)
    page = client.get(report["run_page_url"]).content.decode()
    assert 'id="market-headline"' in page
    assert f"Optimal price ${report['optimal_price']:.2f}" in page
    top = preferences["ranking"][0]
    assert f"<td>{top['label']}</td>" in page
    assert f"{round(100 * top['ci_low'])}–{round(100 * top['ci_high'])}%" in page
    assert f"{segmentation['k']} segments (highest mean silhouette" in page
    assert f"{segmentation['silhouette']:.2f}: {segmentation['structure']})" in page


def test_feature_ratings_and_a_fixed_segment_count_on_the_llm_backend(
    api, model_server, run_on_commit
):
    body = SEED_MARKET | _llm(model_server) | {
        "target_areas": ["phoenix_az_city"], "population_size": 20, "seed": 4,
        "price_points": [99.99, 149.99], "features": FEATURES[:2], "feature_format": "rating",
        "segment_count": 2,
    }  # fmt: skip
    report = _finished(api, run_on_commit, body)
    assert_matches_schema(report, "MarketAnalysisReport")
    preferences = report["feature_preferences"]
    assert preferences["format"] == "rating"
    codes = [f["code"] for f in preferences["features"]]
    ratings = pd.DataFrame(
        Answer.objects.filter(
            run_id=report["run_id"], item__code__startswith="importance_"
        ).values_list("persona_id", "item__code", "option__value"),
        columns=["persona", "item", "value"],
    ).pivot(index="persona", columns="item", values="value")[[f"importance_{c}" for c in codes]]
    # Independently: each persona's rating over the sum of its two ratings, averaged.
    expected = (ratings.to_numpy() / ratings.to_numpy().sum(axis=1, keepdims=True)).mean(axis=0)
    shares = {row["code"]: row["share"] for row in preferences["ranking"]}
    assert [shares[c] for c in codes] == pytest.approx(expected)
    assert preferences["difference_test"]["test"].startswith("Wilcoxon")
    segmentation = report["market_segmentation"]
    assert (segmentation["k"], segmentation["k_fixed"]) == (2, True)
    assert [r["k"] for r in segmentation["fit"]] == [2]
    sizes = [s["size"] for s in segmentation["segments"]]
    assert sum(sizes) == 20 and sizes == sorted(sizes, reverse=True)
    assert all(set(s["feature_importance"]) == set(codes) for s in segmentation["segments"])
    # Recomputed from the stored answers with the run's seed, the segments are the same.
    again = MarketAnalyzer().results(run=Run.objects.get(pk=report["run_id"]))["market"]
    assert again["segmentation"] == segmentation
    assert again["feature_preferences"] == preferences


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"features": ["Voice control"]}, "invalid", "features"),
        ({"features": ["Voice control", "voice Control "]}, "duplicate_feature", "listed twice"),
        ({"features": ["A", "B"], "feature_format": "maxdiff"}, "invalid", "feature_format"),
        ({"segment_count": 1}, "invalid", "segment_count"),
        ({"segment_count": 7}, "invalid", "segment_count"),
        (
            {"segment_count": 6, "population_size": 20},
            "too_few_personas_for_segments",
            "6 segments need at least 30 personas",
        ),
    ],
)
def test_bad_feature_or_segment_input_is_refused_with_what_to_fix(
    api, model_server, change, code, fragment
):
    body = SEED_MARKET | _llm(model_server) | {"population_size": 40} | change
    response = api.post("/api/v1/market/analyze-environmental", body, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == code, error
    assert fragment in str(error), error
    assert not MarketAnalysis.objects.exists()
