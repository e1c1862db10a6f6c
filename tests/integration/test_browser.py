"""Headless Chromium on the run page: the bar moves live and the result table appears."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Records every width the progress bar takes, from the first paint on.
RECORD_WIDTHS = """
window.__widths = [];
document.addEventListener("DOMContentLoaded", () => {
  const fill = document.getElementById("progress-fill");
  if (!fill) return;
  const record = () => window.__widths.push(parseFloat(fill.style.width));
  record();
  new MutationObserver(record).observe(fill, {attributes: true, attributeFilter: ["style"]});
});
"""


def _login(page: Page, stack) -> None:
    page.goto(f"{stack.base_url}/accounts/login/")
    page.fill("#id_username", stack.username)
    page.fill("#id_password", stack.password)
    page.click("button[type=submit]")
    expect(page.locator("#start-study")).to_be_visible()


def _watch_run_page(page: Page, total: int) -> list[float]:
    expect(page.locator("#results table").first).to_be_visible(timeout=120_000)
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.locator("#progress-count")).to_have_text(f"{total} / {total}")
    rows = page.locator("#results-overall table tr")
    expect(rows).to_have_count(3)  # header + Support + Oppose
    assert "95% interval" in page.locator("#results-overall table").inner_text()
    for dimension in ("area", "sex", "education"):
        expect(page.locator(f"#results table[data-dimension={dimension}]")).to_have_count(1)
    return page.evaluate("window.__widths")


def _assert_bar_moved(widths: list[float]) -> None:
    assert widths[-1] == 100.0, widths
    intermediate = {w for w in widths if 0 < w < 100}
    assert intermediate, f"the bar jumped straight to the end: {widths}"
    assert widths == sorted(widths), widths


def test_run_page_on_postgres_redis_and_a_worker(browser, services_stack):
    stack = services_stack
    context = browser.new_context()
    context.add_init_script(RECORD_WIDTHS)
    page = context.new_page()
    _login(page, stack)
    run = stack.start_run(size=6000, chunk_size=100, seed=31)
    page.goto(f"{stack.base_url}/runs/{run['id']}/")
    _assert_bar_moved(_watch_run_page(page, 6000))
    # A reload reads the stored state first: the finished table is there at once.
    page.reload()
    expect(page.locator("#results table").first).to_be_visible(timeout=5_000)
    context.close()


def test_a_study_started_from_the_browser_on_the_embedded_default(browser, embedded_stack):
    stack = embedded_stack
    context = browser.new_context()
    context.add_init_script(RECORD_WIDTHS)
    page = context.new_page()
    _login(page, stack)
    page.fill("#id_title", "Coverage from the browser")
    page.select_option("#id_question", str(stack.question_id()))  # the CCES question
    page.fill("#id_size", "4000")
    page.click("#start-study button[type=submit]")
    page.wait_for_url("**/runs/*/")
    _assert_bar_moved(_watch_run_page(page, 4000))
    context.close()


def test_the_form_names_bad_input(browser, embedded_stack):
    page = browser.new_page()
    _login(page, embedded_stack)
    page.fill("#id_title", "Too big")
    page.select_option("#id_question", str(embedded_stack.question_id()))  # the CCES question
    page.evaluate("document.getElementById('id_size').removeAttribute('max')")
    page.fill("#id_size", "100000000")
    page.click("#start-study button[type=submit]")
    expect(page.locator(".error")).to_contain_text("less than or equal to 100000")
    page.close()


def test_an_llm_study_from_the_browser_shows_its_estimate_then_runs_live(browser, embedded_stack):
    """The language-model backend from the form: the estimate first, then the run with its cost,
    against a local server speaking the OpenAI protocol (no real provider is called)."""
    from tests.llm.fake_llm_server import FakeLLMServer
    from tests.llm.persona_responder import persona_responder

    stack = embedded_stack
    with FakeLLMServer(responder=persona_responder, latency_s=0.05) as model:
        context = browser.new_context()
        context.add_init_script(RECORD_WIDTHS)
        page = context.new_page()
        _login(page, stack)
        page.fill("#id_title", "Coverage asked of a language model")
        page.select_option("#id_question", str(stack.question_id()))
        page.fill("#id_size", "24")
        page.select_option("#id_backend", "llm")
        page.select_option("#id_provider", "openai")
        page.fill("#id_model", "gpt-browser")
        page.fill("#id_base_url", model.openai_base_url)
        page.select_option("#id_depth", "shallow")
        page.click("#start-study button[value=estimate]")
        estimate = page.locator("#cost-estimate")
        expect(estimate).to_contain_text("Estimated cost")
        expect(estimate).to_contain_text("no price")  # none in this fresh database's price table
        assert model.requests == []  # estimating calls no model
        page.click("#start-study button[value=start]")
        page.wait_for_url("**/runs/*/")
        expect(page.locator("#run-llm")).to_contain_text("openai/gpt-browser")
        _assert_bar_moved(_watch_run_page(page, 24))
        assert len(model.requests) == 24 * 4  # four engine steps a persona
        context.close()
