"""Headless Chromium on the result pages: a state-level run's charts appear beside their tables
with the tables' figures, its map has a legend, the download menu's files download, and the run,
population and comparison pages fit a 390 px phone without scrolling sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.integration.test_browser import _login

pytestmark = [pytest.mark.browser, pytest.mark.integration]

STATES = ["arizona_state", "michigan_state", "texas_state"]


def _state_run(stack, size: int, seed: int) -> dict:
    api = stack.api()
    population = api.post(
        f"{stack.base_url}/api/v1/populations/",
        json={"size": size, "seed": seed, "areas": [{"area": a} for a in STATES]},
    )
    assert population.status_code == 201, population.text
    study = stack.create_study()
    run = api.post(
        f"{stack.base_url}/api/v1/runs/",
        json={"study": study["id"], "population": population.json()["id"], "seed": seed},
    )
    assert run.status_code == 201, run.text
    return run.json()


def _table_shares(page: Page, selector: str) -> dict[str, str]:
    """Option label → share text of the overall table."""
    rows = page.locator(f"{selector} table tr").all()[1:]
    return {r.locator("td").nth(0).inner_text(): r.locator("td").nth(2).inner_text() for r in rows}


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width}px wide at 390px"


def test_a_state_runs_charts_map_downloads_and_phone_width(browser, embedded_stack):
    stack = embedded_stack
    context = browser.new_context()
    page = context.new_page()
    _login(page, stack)
    run = _state_run(stack, size=600, seed=17)
    page.goto(f"{stack.base_url}/runs/{run['id']}/")

    # The overall chart sits beside its table and draws the table's shares.
    overall = page.locator("#results-overall svg[data-dimension=overall]")
    expect(overall).to_be_visible(timeout=120_000)
    table = _table_shares(page, "#results-overall")
    drawn = overall.locator("g.chart-bar")
    expect(drawn).to_have_count(len(table))
    for i in range(drawn.count()):
        bar = drawn.nth(i)
        label, value = bar.get_attribute("data-group"), float(bar.get_attribute("data-value"))
        assert table[label] == f"{100 * value:.1f}%", (label, value, table)
    expect(overall.locator("line.whisker").first).to_be_attached()
    # Every breakdown table has its chart; the areas are states, so theirs is a map.
    for dimension in ("sex", "education", "race_ethnicity"):
        expect(page.locator(f"#results svg[data-dimension={dimension}]")).to_be_visible()
        expect(page.locator(f"#results table[data-dimension={dimension}]")).to_have_count(1)
    expect(page.locator("#results h4", has_text="By race/ethnicity")).to_have_count(1)
    chart_map = page.locator("#results svg[data-chart=map]")
    expect(chart_map).to_be_visible()
    expect(chart_map.locator("path.map-state-data")).to_have_count(len(STATES))
    expect(chart_map.locator("g.map-legend-class")).to_have_count(6)
    assert "share choosing" in chart_map.get_attribute("aria-label")
    expect(chart_map.locator("g.map-legend")).to_contain_text("Share choosing")

    # The download menu opens and each of its files downloads.
    page.click("#downloads summary")
    links = page.locator("#downloads a")
    expect(links).to_have_count(4)
    for i in range(links.count()):
        link = links.nth(i)
        expect(link).to_be_visible()
        response = page.request.get(f"{stack.base_url}{link.get_attribute('href')}")
        assert response.status == 200, link.get_attribute("href")
        kind = "parquet" if "parquet" in link.get_attribute("href") else "csv"
        assert kind in response.headers["content-type"]
    population_url = page.locator("#population-link").get_attribute("href")

    # A phone: nothing scrolls sideways; tables scroll inside their own box, charts shrink.
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{stack.base_url}/runs/{run['id']}/")
    expect(phone.locator("#results-overall svg")).to_be_visible()
    _no_sideways_scroll(phone)
    assert phone.locator("#results-overall figure").bounding_box()["width"] <= 390
    assert phone.locator("#results svg[data-chart=map]").bounding_box()["width"] <= 390
    phone.goto(f"{stack.base_url}{population_url}")
    expect(phone.locator("#population-composition svg").first).to_be_visible()
    _no_sideways_scroll(phone)
    other = _state_run(stack, size=300, seed=18)
    stack.wait_for_run(other["id"])
    phone.goto(f"{stack.base_url}/runs/compare/?a={run['id']}&b={other['id']}")
    expect(phone.locator(".compare-item svg")).to_be_visible()
    _no_sideways_scroll(phone)
    context.close()
