"""Multi-agent simulations on the LLM backend: the persona engine, then deliberation rounds, against
the local server speaking the providers' protocols (`tests/llm/fake_llm_server.py`, answering as
`tests/llm/persona_responder.py`'s stand-in personas)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from llm.models import LLMCall
from llm.selectors import llm_call_prompt
from personas.services import AreaWeight, population_create
from studies.dispatch import run_dispatch
from studies.models import Answer, InfluenceSimulation, Run
from studies.progress import run_group_name
from tests.llm.fake_llm_server import Behaviour, FakeLLMServer, error, reply
from tests.llm.persona_responder import persona_responder
from tests.studies.conftest import PRICE_IN, PRICE_OUT

pytestmark = pytest.mark.django_db

SIMULATE = "/api/v1/multi-agent/simulate"
PERSONAS = 12


@pytest.fixture
def group(user):
    return population_create(
        size=PERSONAS,
        areas=[AreaWeight("dallas_tx_city")],
        seed=21,
        include_behavioral_characteristics=True,
        created_by=user,
    )


def _config(server: FakeLLMServer, **engine) -> dict:
    return {
        "llm": {"provider": "openai", "model": "gpt-test", "seed": 3, "base_url": server.openai_base_url},
        "engine": {"concurrency": 1, **engine},
    }  # fmt: skip


def _payload(question, population, server, **extra) -> dict:
    return {
        "scenario_description": "Neighbours talk about abortion coverage by employers",
        "poll_question": question.id,
        "population": population.id,
        "seed": 7,
        "mean_degree": 4,
        "backend": "llm",
        "backend_config": _config(server),
        "deliberation_rounds": 3,
        "neighbours_shown": 3,
        **extra,
    }


def _simulate(api, run_on_commit, payload) -> dict:
    started = run_on_commit(api.post, SIMULATE, payload, format="json")
    assert started.status_code == 202, started.json()
    return api.get(started.json()["url"] + "?limit=200").json()


def _prompts(run_id: int) -> dict[tuple[int, str], str]:
    """(persona, round label) -> the user prompt each deliberation call sent (a cache hit's is
    the one first logged under its key)."""
    calls = LLMCall.objects.filter(run_id=run_id, label__startswith="deliberation_round_")
    return {(c.persona_id, c.label): llm_call_prompt(c)[0][-1]["content"] for c in calls}


def test_a_simulation_on_the_llm_backend_deliberates_and_reports_answers_before_and_after(
    api, cces_question, group, model_server, price, run_on_commit
):
    result = _simulate(api, run_on_commit, _payload(cces_question, group, model_server))

    assert result["status"] == "completed", result["error_message"]
    assert result["backend"] == "llm"
    dynamics = result["dynamics"]
    assert dynamics["model"] == "llm_deliberation"
    rounds = dynamics["rounds"]
    assert 1 <= rounds <= 3 and len(dynamics["trajectory"]) == rounds + 1
    responses = result["individual_responses"]["results"]
    assert len(responses) == PERSONAS
    # Round 0 is what the persona engine stored as the run's answers (influence off).
    stored = dict(
        Answer.objects.filter(run_id=result["run"]).values_list("persona_id", "option__code")
    )
    for row in responses:
        assert row["answers_by_round"][0] == row["answer"] == stored[row["persona_id"]]
        assert row["answer_after"] == row["answers_by_round"][-1]
        assert len(row["answers_by_round"]) == rounds + 1
    changed = sum(r["answer_after"] != r["answer"] for r in responses)
    assert changed > 0  # the stand-in personas move towards what their ties say
    assert result["peer_influence_effects"]["answers_changed"] == pytest.approx(changed / PERSONAS)
    # Influence off and on side by side: the shares of the answers before and after the rounds.
    off = {r["option"]: r["share"] for r in result["comparison"]["influence_off"]}
    on = {r["option"]: r["share"] for r in result["comparison"]["influence_on"]}
    for option in off:
        assert off[option] == pytest.approx(
            sum(r["answer"] == option for r in responses) / PERSONAS
        )
        assert on[option] == pytest.approx(
            sum(r["answer_after"] == option for r in responses) / PERSONAS
        )
    assert dynamics["trajectory"][0]["shares"] == pytest.approx(off)
    assert dynamics["trajectory"][-1]["shares"] == pytest.approx(on)
    assert "LLM deliberation" in result["assumptions"]["model"]
    assert result["assumptions"]["neighbours_shown"] == 3
    # Each persona with ties was asked once a round, and heard what its ties said the round before.
    asked = dynamics["personas_asked_per_round"]
    assert asked == PERSONAS - dynamics["personas_without_ties"] > 0
    prompts = _prompts(result["run"])
    assert len(prompts) == asked * rounds == dynamics["llm_calls"]
    by_persona = {r["persona_id"]: r for r in responses}
    labels = {o.code: o.label for o in cces_question.options.all()}
    for (persona_id, label), prompt in prompts.items():
        before = by_persona[persona_id]["answers_by_round"][int(label.rsplit("_", 1)[1]) - 1]
        assert f'you answered "{labels[before]}" ({before})' in prompt
    # The rounds were estimated before the run started, and what they cost added to the run.
    run = Run.objects.get(id=result["run"])
    deliberation = run.cost_estimate["steps"]["deliberation"]
    assert deliberation["calls"] == PERSONAS * 3
    spent = LLMCall.objects.filter(run_id=run.id)
    assert run.llm_calls == spent.count() and run.cost_spent == sum(c.cost or 0 for c in spent) > 0
    assert Decimal(dynamics["cost"]) == sum(
        c.cost or 0 for c in spent.filter(label__startswith="deliberation_round_")
    )


def test_with_peer_influence_off_the_llm_simulation_is_the_engines_answers_alone(
    api, cces_question, group, model_server, price, run_on_commit
):
    payload = _payload(cces_question, group, model_server, enable_peer_influence=False)
    del payload["deliberation_rounds"], payload["neighbours_shown"]
    result = _simulate(api, run_on_commit, payload)

    assert result["status"] == "completed", result["error_message"]
    assert result["comparison"]["influence_on"] is None and result["group_dynamics"] is None
    assert "steps" in result["cost_estimate"]
    assert "deliberation" not in result["cost_estimate"]["steps"]
    assert not LLMCall.objects.filter(run_id=result["run"], label__startswith="delib").exists()
    stored = dict(
        Answer.objects.filter(run_id=result["run"]).values_list("persona_id", "option__code")
    )
    rows = result["individual_responses"]["results"]
    assert {r["persona_id"]: r["answers_by_round"] for r in rows} == {
        pid: [code] for pid, code in stored.items()
    }


def test_the_estimate_includes_the_rounds_and_a_budget_below_it_is_refused(
    api, cces_question, group, model_server, price
):
    # Started (not dispatched: the request's transaction never commits in a test) to read the
    # estimate it was given.
    started = api.post(
        SIMULATE, _payload(cces_question, group, model_server, budget=100), format="json"
    )
    assert started.status_code == 202, started.json()
    estimate = Run.objects.get(id=started.json()["run"]).cost_estimate
    steps = estimate["steps"]
    assert steps["deliberation"]["calls"] == PERSONAS * 3
    assert estimate["calls"] == sum(s["calls"] for s in steps.values())
    rounds = Decimal(steps["deliberation"]["amount"])
    engine = sum(Decimal(s["amount"]) for name, s in steps.items() if name != "deliberation")
    assert Decimal(estimate["amount"]) == engine + rounds and rounds > 0

    # Enough for the engine, not for the rounds too.
    budget = (engine + rounds / 2).quantize(Decimal("0.0001"))
    response = api.post(
        SIMULATE, _payload(cces_question, group, model_server, budget=float(budget)), format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "over_budget"
    assert f"above the budget of {budget}" in error["message"]
    assert InfluenceSimulation.objects.count() == Run.objects.count() == 1
    assert model_server.requests == []


def test_each_round_is_reported_over_the_runs_websocket(
    api, cces_question, group, model_server, settings
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # Not dispatched yet: the request's transaction never commits in a test.
    started = api.post(SIMULATE, _payload(cces_question, group, model_server), format="json")
    run_id = started.json()["run"]
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(run_group_name(run_id), channel)

    run_dispatch(run_id=run_id, executor="inline")

    async def drain() -> list[dict]:
        events = []
        while True:
            try:
                events.append(await asyncio.wait_for(layer.receive(channel), 0.05))
            except TimeoutError:
                return events

    payloads = [e["payload"] for e in async_to_sync(drain)()]
    rounds = InfluenceSimulation.objects.get(run_id=run_id).results["dynamics"]["rounds"]
    stages = [p for p in payloads if "stage" in p]
    assert [p["stage"]["round"] for p in stages] == list(range(1, rounds + 1))
    assert all(p["stage"]["rounds"] == 3 and p["personas_completed"] == PERSONAS for p in stages)
    assert stages[0]["message"] == "Deliberation round 1 of 3 done"
    assert payloads[-1]["type"] == "completion"
    assert payloads.index(stages[-1]) < len(payloads) - 1  # the rounds come before completion


def test_a_budget_stops_the_deliberation_before_a_round_it_cannot_cover(
    api, cces_question, group, price, llm_env, run_on_commit
):
    # Every call is billed 20,000 tokens in and 2,000 out, far above the estimate's typical
    # sizes: the budget passes the estimate, and the rounds' real cost meets it.
    tokens_in, tokens_out = 20_000, 2_000
    per_call = (tokens_in * PRICE_IN + tokens_out * PRICE_OUT) / 1_000_000
    engine_calls = 4 * PERSONAS  # analyze, context, experience, participation
    # The engine and one round of every persona fit, a second round does not.
    budget = (engine_calls + PERSONAS * Decimal("1.5")) * per_call
    with FakeLLMServer(
        responder=persona_responder, responder_tokens=(tokens_in, tokens_out)
    ) as server:
        # Ties to nearly everyone: every persona is asked each round.
        payload = _payload(cces_question, group, server, mean_degree=11, budget=float(budget))
        result = _simulate(api, run_on_commit, payload)

    assert result["status"] == "completed", result["error_message"]
    assert result["network"]["isolated_personas"] == 0
    assert Decimal(result["cost_estimate"]["amount"]) <= budget
    dynamics = result["dynamics"]
    assert dynamics["rounds"] == 1
    assert dynamics["stopped"].startswith("the budget was reached before round 2")
    assert result["assumptions"]["stopped_early"] == dynamics["stopped"]
    run = Run.objects.get(id=result["run"])
    assert run.cost_spent == (engine_calls + PERSONAS) * per_call <= budget
    assert not LLMCall.objects.filter(run_id=run.id, label="deliberation_round_2").exists()
    assert all(len(r["answers_by_round"]) == 2 for r in result["individual_responses"]["results"])


def _failing_once_minded(failure: Behaviour | dict, failed: dict):
    """persona_responder, except that the first deliberation call of round 1 whose persona
    would change its mind fails (with `failure`, every time that prompt is sent again)."""

    def respond(body: dict):
        answer = persona_responder(body)
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if "Before this conversation you answered" not in prompt:
            return answer  # an engine step, or a later round
        if not failed and answer.get("changed_mind"):
            failed["prompt"], failed["would_answer"] = prompt, answer["answer"]
        return failure if failed.get("prompt") == prompt else answer

    return respond


@pytest.mark.parametrize(
    "failure",
    [error(503, message="overloaded"), {"answer": "maybe", "reasoning": "?", "changed_mind": 1}],
    ids=["provider_error", "invalid_reply"],
)
def test_a_persona_whose_call_fails_keeps_its_previous_answer(
    api, cces_question, group, price, llm_env, run_on_commit, failure
):
    failed: dict = {}
    if isinstance(failure, dict):
        failure = reply(failure)
    with FakeLLMServer(responder=_failing_once_minded(failure, failed)) as server:
        config = _config(server, max_attempts=2)
        payload = _payload(cces_question, group, server, backend_config=config)
        result = _simulate(api, run_on_commit, payload)

    assert result["status"] == "completed", result["error_message"]
    assert failed, "no persona would have changed its mind in round 1"
    dynamics = result["dynamics"]
    assert dynamics["failures_by_round"][0] == 1 and dynamics["failures"] == 1
    failing = {
        c.persona_id
        for c in LLMCall.objects.filter(run_id=result["run"], label="deliberation_round_1")
        if any(m["content"] == failed["prompt"] for m in c.messages)
    }
    assert len(failing) == 1, "the failed call was not logged under its persona"
    persona_id = failing.pop()
    row = next(
        r for r in result["individual_responses"]["results"] if r["persona_id"] == persona_id
    )
    # The model would have moved it; the failed call left it where it was.
    assert failed["would_answer"] != row["answers_by_round"][0]
    assert row["answers_by_round"][1] == row["answers_by_round"][0]


def test_a_refusal_that_would_fail_every_persona_fails_the_run_with_its_message(
    api, cces_question, group, price, llm_env, run_on_commit
):
    def respond(body: dict):
        answer = persona_responder(body)
        if "Before this conversation" in str(body["messages"]):
            return error(403, message="this model is not enabled for your organisation")
        return answer

    with FakeLLMServer(responder=respond) as server:
        result = _simulate(api, run_on_commit, _payload(cces_question, group, server))

    assert result["status"] == "failed"
    assert "deliberation round 1: " in result["error_message"]
    assert "not enabled for your organisation" in result["error_message"]
    # The engine's answers are kept; the refused calls are logged.
    assert Answer.objects.filter(run_id=result["run"]).count() == PERSONAS
    assert LLMCall.objects.filter(run_id=result["run"], label="deliberation_round_1").exists()


def test_the_same_seed_gives_the_same_network_and_the_same_prompts(
    api, cces_question, group, model_server, price, run_on_commit
):
    first = _simulate(api, run_on_commit, _payload(cces_question, group, model_server))
    again = _simulate(api, run_on_commit, _payload(cces_question, group, model_server))
    other = _simulate(api, run_on_commit, _payload(cces_question, group, model_server, seed=8))

    assert first["network"] == again["network"]
    assert [r["ties"] for r in first["individual_responses"]["results"]] == [
        r["ties"] for r in again["individual_responses"]["results"]
    ]
    prompts = _prompts(first["run"])
    assert prompts and prompts == _prompts(again["run"])
    # The second was answered from the response cache: the same prompts, nothing sent again.
    assert (
        Run.objects.get(id=again["run"]).cached_calls == Run.objects.get(id=again["run"]).llm_calls
    )
    # Another seed ties the personas differently, so they hear other people.
    assert _prompts(other["run"]) != prompts


@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        ({"backend_config": None}, "backend_config", "backend llm needs backend_config.llm"),
        ({"backend": "poll_model"}, "backend_config", "applies to backend llm only"),
        ({"backend": "poll_model", "backend_config": None}, "deliberation_rounds", "llm only"),
        ({"deliberation_rounds": 0}, "deliberation_rounds", "greater than or equal to 1"),
        ({"deliberation_rounds": 11}, "deliberation_rounds", "less than or equal to 10"),
        ({"neighbours_shown": 0}, "neighbours_shown", "greater than or equal to 1"),
        ({"enable_peer_influence": False}, "deliberation_rounds", "enable_peer_influence false"),
        ({"budget": 0}, "budget", "greater than or equal to 0.0001"),
    ],
)
def test_a_bad_deliberation_request_is_refused_with_the_field(
    api, cces_question, group, model_server, extra, field, says
):
    payload = {
        k: v
        for k, v in _payload(cces_question, group, model_server, **extra).items()
        if v is not None
    }
    response = api.post(SIMULATE, payload, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert says in " ".join(error["fields"][field])
    assert not Run.objects.exists()


def test_a_deliberation_too_large_for_one_task_is_refused(
    api, cces_question, group, model_server, monkeypatch
):
    monkeypatch.setattr("studies.influence.services.DELIBERATION_MAX_CALLS", PERSONAS * 3 - 1)
    response = api.post(SIMULATE, _payload(cces_question, group, model_server), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "deliberation_too_large"
    assert (
        f"{PERSONAS} personas × 3 rounds is {PERSONAS * 3} deliberation calls" in error["message"]
    )
    # One round fewer fits.
    fits = api.post(
        SIMULATE, _payload(cces_question, group, model_server, deliberation_rounds=2), format="json"
    )
    assert fits.status_code == 202, fits.json()


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"model": None}, "backend_config.llm.model", "Field required"),
        ({"api_key": "sk-secret"}, "backend_config.llm.api_key", "Extra inputs"),
        ({"base_url": "http://169.254.169.254/v1"}, "backend_config", "allow-list"),
        ({"key": "OPENAI_API_KEY"}, "backend_config", "not a key alias of this server"),
    ],
    ids=["no_model", "api_key_in_request", "base_url_not_allowed", "unknown_key_alias"],
)
def test_a_backend_config_the_server_will_not_use_is_refused(
    api, cces_question, group, model_server, change, field, says
):
    config = _config(model_server)
    config["llm"] = {k: v for k, v in {**config["llm"], **change}.items() if v is not None}
    response = api.post(
        SIMULATE,
        _payload(cces_question, group, model_server, backend_config=config),
        format="json",
    )
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid_backend_config"
    messages = [m for name, ms in error["fields"].items() if name.startswith(field) for m in ms]
    assert any(says in m for m in messages), error
    assert not Run.objects.exists() and model_server.requests == []
