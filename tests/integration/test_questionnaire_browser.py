"""A study of every item type, with two conditions and quotas, created and run through the API on
the LLM backend (against a local server speaking the OpenAI protocol) and read in a real browser;
and a poll-grounded designed study on the offline backend."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.integration.test_browser import _login

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ITEMS = [
    {"code": "support", "type": "single_choice", "text": "Do you support the transit levy?",
     "options": [{"code": "yes", "label": "Yes"}, {"code": "no", "label": "No"}]},
    {"code": "modes", "type": "multiple_choice", "text": "Which would you use?", "max_choices": 2,
     "options": [{"code": "bus", "label": "Bus"}, {"code": "rail", "label": "Rail"},
                 {"code": "bike", "label": "Bike share"}]},
    {"code": "agree", "type": "likert", "text": "The levy is fair.",
     "variants": {"message": "Having read the message: the levy is fair."},
     "options": [{"code": "sd", "label": "Strongly disagree"}, {"code": "d", "label": "Disagree"},
                 {"code": "n", "label": "Neither"}, {"code": "a", "label": "Agree"},
                 {"code": "sa", "label": "Strongly agree"}]},
    {"code": "pay", "type": "numeric", "text": "Most you would pay a month?", "min_value": 0,
     "max_value": 100, "unit": "USD"},
    {"code": "rank", "type": "ranking", "text": "Rank what matters most.",
     "options": [{"code": "cost", "label": "Cost"}, {"code": "speed", "label": "Speed"},
                 {"code": "safety", "label": "Safety"}]},
    {"code": "why", "type": "free_text", "text": "Why do you feel that way?"},
]  # fmt: skip


def _designed_study(stack, **fields) -> dict:
    response = stack.api().post(f"{stack.base_url}/api/v1/studies/", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def test_every_item_type_with_conditions_and_quotas_on_the_llm_backend(browser, embedded_stack):
    from tests.llm.fake_llm_server import FakeLLMServer
    from tests.llm.persona_responder import persona_responder

    stack = embedded_stack
    study = _designed_study(
        stack,
        title="Transit levy questionnaire",
        kind="questionnaire",
        conditions=[
            {"code": "control", "label": "Control"},
            {"code": "message", "label": "Message", "stimulus": "The levy funds night buses."},
        ],
        quotas={"sex": {"female": 6, "male": 6}},
        items=ITEMS,
    )
    population = stack.create_population(60, seed=3)
    with FakeLLMServer(responder=persona_responder, latency_s=0.01) as model:
        started = stack.api().post(
            f"{stack.base_url}/api/v1/runs/",
            json={
                "study": study["id"],
                "population": population["id"],
                "backend": "llm",
                "seed": 5,
                "backend_config": {
                    "llm": {
                        "provider": "openai",
                        "model": "gpt-q",
                        "base_url": model.openai_base_url,
                    },
                    "engine": {"depth": "shallow"},
                },
            },
        )
        assert started.status_code == 201, started.text
        run = started.json()
        assert run["personas_total"] == 12
        assert run["selection"]["per_condition"] == {"control": 6, "message": 6}
        finished = stack.wait_for_run(run["id"], timeout=180)
        assert finished["status"] == "completed", finished
        assert finished["personas_failed"] == 0
        prompts = " ".join(str(r.body) for r in model.requests)
        assert "The levy funds night buses." in prompts and "Having read the message" in prompts

    page = browser.new_page()
    _login(page, stack)
    page.goto(f"{stack.base_url}/runs/{run['id']}/")
    expect(page.locator("#run-selection")).to_contain_text("12 participants")
    for item in ITEMS:
        section = page.locator(f"section[data-item-code={item['code']}]")
        expect(section).to_have_attribute("data-item-type", item["type"])
    expect(page.locator("section[data-item-code=agree] .item-summary")).to_contain_text("top-2 box")
    expect(page.locator("section[data-item-code=pay] .item-summary")).to_contain_text("median")
    expect(page.locator("section[data-item-code=rank] table").first).to_contain_text("Borda")
    expect(page.locator("section[data-item-code=why] .free-text-sample li")).not_to_have_count(0)
    expect(
        page.locator("section[data-item-code=support] table[data-tests=conditions]")
    ).to_contain_text("message vs control")
    expect(page.locator("#results-quality")).to_be_visible()
    page.close()

    answers = stack.api().get(f"{stack.base_url}/api/v1/runs/{run['id']}/answers.csv")
    rows = list(csv.DictReader(io.StringIO(answers.text)))
    assert len(rows) == 12 * len(ITEMS)
    assert {r["condition"] for r in rows} == {"control", "message"}
    numbers = [float(r["number"]) for r in rows if r["item"] == "pay"]
    assert len(numbers) == 12 and all(0 <= n <= 100 for n in numbers)
    ranks = [r["answer"].split("|") for r in rows if r["item"] == "rank"]
    assert all(sorted(r) == ["cost", "safety", "speed"] for r in ranks)


def test_a_poll_grounded_likert_study_with_arms_runs_offline_and_reads_in_the_browser(
    browser,
    embedded_stack,
):
    stack = embedded_stack
    api = stack.api()
    polls = api.get(f"{stack.base_url}/api/v1/polls/").json()["results"]
    anes = next(p for p in polls if p["slug"] == "anes-1996")
    questions = api.get(f"{stack.base_url}/api/v1/polls/{anes['id']}/").json()["questions"]
    ideology = next(q for q in questions if q["code"] == "self-placement-left-right")
    study = _designed_study(
        stack,
        title="Ideology in two arms",
        conditions=[{"code": "a", "label": "A"}, {"code": "b", "label": "B"}],
        assignment="balanced",
        inclusion=[{"field": "age", "op": "gte", "value": 25}],
        items=[
            {
                "code": "lr",
                "type": "likert",
                "text": "Where do you stand?",
                "poll_question": ideology["id"],
            },
            {
                "code": "coverage",
                "text": "Employer coverage?",
                "poll_question": stack.question_id(),
            },
        ],
    )
    population = stack.create_population(400, seed=9)
    run = api.post(
        f"{stack.base_url}/api/v1/runs/",
        json={"study": study["id"], "population": population["id"], "seed": 2},
    ).json()
    assert stack.wait_for_run(run["id"])["status"] == "completed"
    page = browser.new_page()
    _login(page, stack)
    page.goto(f"{stack.base_url}/runs/{run['id']}/")
    expect(page.locator("section[data-item-code=lr] .item-summary")).to_contain_text("Mean")
    expect(
        page.locator("section[data-item-code=lr] table[data-dimension=condition]")
    ).to_be_visible()
    expect(
        page.locator("section[data-item-code=coverage] table[data-tests=groups]")
    ).to_be_visible()
    page.close()
