"""Headless Chromium through the header, the list pages and the study form: a study of two items
started from the form, the language-model fields shown only for that backend, and the feedback
while the run starts."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.integration.test_browser import _login

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Runs after the page's own submit handler (registered later): keeps what the page showed at the
# moment of submitting, which the next page can read from the tab's session storage.
RECORD_SUBMIT_STATE = """
document.getElementById("start-study").addEventListener("submit", () => {
  const buttons = [...document.querySelectorAll("#start-study button[type=submit]")];
  sessionStorage.setItem("submitted", JSON.stringify({
    busy: document.getElementById("form-busy").textContent,
    disabled: buttons.map((b) => b.disabled),
  }));
});
"""


def _anes_question_id(stack) -> int:
    api = stack.api()
    polls = api.get(f"{stack.base_url}/api/v1/polls/").json()["results"]
    poll = next(p for p in polls if p["slug"] == "anes-1996")
    return api.get(f"{stack.base_url}/api/v1/polls/{poll['id']}/").json()["questions"][0]["id"]


def _header(page: Page, name: str):
    return page.locator("header nav").get_by_role("link", name=name, exact=True)


def test_the_header_leads_to_the_lists_and_the_form(browser, embedded_stack):
    page = browser.new_page()
    _login(page, embedded_stack)
    for name, path, heading in [
        ("Studies", "/studies/", "Studies"),
        ("Runs", "/runs/", "Runs"),
        ("Populations", "/populations/", "Populations"),
        ("New study", "/studies/new/", "Start a study"),
    ]:
        _header(page, name).click()
        page.wait_for_url(f"**{path}")
        expect(page.locator("h1")).to_have_text(heading)
        expect(_header(page, name)).to_have_attribute("aria-current", "page")
    page.close()


def test_the_llm_fields_appear_only_for_the_llm_backend(browser, embedded_stack):
    page = browser.new_page()
    _login(page, embedded_stack)
    llm = page.locator("#llm-fields")
    expect(llm).to_be_hidden()
    page.select_option("#id_backend", "llm")
    expect(llm).to_be_visible()
    expect(page.locator("#id_model")).to_be_visible()
    page.select_option("#id_backend", "poll_cell")
    expect(llm).to_be_hidden()
    page.close()


def test_a_two_item_study_from_the_form_then_found_on_every_list(browser, embedded_stack):
    stack = embedded_stack
    page = browser.new_page()
    _login(page, stack)
    page.goto(f"{stack.base_url}/studies/new/")
    page.fill("#id_title", "Two questions from the browser")
    page.select_option("#id_question", str(stack.question_id()))  # the CCES question
    page.select_option("#id_question_1", str(_anes_question_id(stack)))
    page.fill("#id_size", "200")
    page.select_option("#id_backend", "poll_cell")
    page.evaluate(RECORD_SUBMIT_STATE)
    page.click("#start-study button[value=start]")
    page.wait_for_url("**/runs/*/")
    submitted = page.evaluate("JSON.parse(sessionStorage.getItem('submitted'))")
    assert submitted == {"busy": "Starting…", "disabled": [True, True]}
    run_path = page.url.split(stack.base_url, 1)[1]

    _header(page, "Studies").click()
    page.get_by_role("link", name="Two questions from the browser").click()
    page.wait_for_url("**/studies/*/")
    expect(page.locator("#study-items tbody tr")).to_have_count(2)
    expect(page.locator("#study-runs tbody tr")).to_have_count(1)
    expect(page.locator(f"#study-runs a[href='{run_path}']")).to_be_visible()

    _header(page, "Runs").click()
    page.fill("input[name=q]", "Two questions")
    page.click("form[role=search] button")
    expect(page.locator("#run-list tbody tr")).to_have_count(1)
    expect(page.locator(f"#run-list a[href='{run_path}']")).to_be_visible()

    _header(page, "Populations").click()
    expect(page.locator("#population-list")).to_contain_text(
        "Two questions from the browser population"
    )
    page.close()
