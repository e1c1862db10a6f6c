"""Headless Chromium: the run the study form holds for a large population outlives the browser
that asked for it (embedded default: the build and the run on threads of the server)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.integration.test_browser import _login
from tests.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def small_inline_stack(tmp_path_factory, sqlite_seed):
    # A server of its own (the shared one builds up to 20,000 personas inline), on a copy of the
    # shared seed's database rather than a second load of the reference data.
    stack = Stack(
        mode="embedded",
        workdir=tmp_path_factory.mktemp("held-run-stack"),
        extra_env={"POPULATION_INLINE_MAX": "500"},
        seed=sqlite_seed,
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


def test_the_held_run_starts_after_the_browser_that_asked_for_it_is_closed(
    browser, small_inline_stack
):
    stack = small_inline_stack
    asking = browser.new_context()
    page = asking.new_page()
    _login(page, stack)
    page.fill("#id_title", "Coverage held for its population")
    page.select_option("#id_question", str(stack.question_id()))
    page.fill("#id_size", "3000")
    page.click("#start-study button[type=submit]")
    page.wait_for_url("**/populations/*/")
    population_url = page.url
    expect(page.locator(".held-run")).to_have_attribute("data-status", "held")
    asking.close()  # the browser is gone before the build ends

    later = browser.new_context()  # another device: nothing of the first session
    page = later.new_page()
    _login(page, stack)
    page.goto(population_url)
    held = page.locator(".held-run")
    for _ in range(120):  # the page refreshes itself only while the population builds
        if held.get_attribute("data-status") != "held":
            break
        page.wait_for_timeout(1_000)
        page.reload()
    expect(held).to_have_attribute("data-status", "started")
    held.locator("a.held-run-link").click()
    page.wait_for_url("**/runs/*/")
    expect(page.locator("#run-status")).to_have_text("completed", timeout=120_000)
    expect(page.locator("#progress-count")).to_have_text("3000 / 3000")
    later.close()
