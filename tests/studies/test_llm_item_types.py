"""The LLM backend answers every item type, in each persona's condition: a study with all six
types and two conditions runs end to end against the local provider server, each type lands in its
Answer field, and a reply that breaks an item's rule is refused by the schema and retried."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from pydantic import ValidationError

from personas.engine.schemas import ItemShape, participation_model
from personas.models import Persona
from personas.services import AreaWeight, population_create
from studies.models import (
    Answer,
    Condition,
    Item,
    ItemOption,
    Run,
    RunParticipant,
    RunPersona,
    Study,
)
from studies.services import run_estimate, run_start
from tests.llm.persona_responder import persona_responder

pytestmark = pytest.mark.django_db

STIMULUS = "A half-cent sales tax would cost the average household about $96 a year."
VARIANT = "Knowing it costs about $96 a year, would you vote for the transit levy?"
TRUST = [("sd", "Strongly disagree"), ("d", "Disagree"), ("n", "Neither"), ("a", "Agree"),
         ("sa", "Strongly agree")]  # fmt: skip


@pytest.fixture
def typed_study() -> Study:
    study = Study.objects.create(
        title="Transit levy message test",
        description="How a cost message moves support for more buses.",
        kind=Study.Kind.MESSAGE_TEST,
        time_on_task=True,
        behavioral_measures=["errors", "hesitations", "abandonment"],
    )
    Condition.objects.create(study=study, order=0, code="control", label="Control")
    Condition.objects.create(
        study=study, order=1, code="cost", label="Cost message", stimulus=STIMULUS
    )

    def item(order, code, type_, text, options=(), **fields):
        made = Item.objects.create(
            study=study, order=order, code=code, type=type_, text=text, **fields
        )
        for position, (option, label, *value) in enumerate(options):
            ItemOption.objects.create(
                item=made, order=position, code=option, label=label, value=(value or [None])[0]
            )
        return made

    item(0, "levy", "single_choice", "Would you vote for the transit levy?",
         [("yes", "Yes"), ("no", "No")], variants={"cost": VARIANT})  # fmt: skip
    item(1, "modes", "multiple_choice", "Which do you use in a normal week?",
         [("bus", "Bus"), ("train", "Train"), ("bike", "Bike"), ("car", "Car")], max_choices=2)  # fmt: skip
    item(2, "trust", "likert", "The city spends transit money well.",
         [(c, label, float(i + 1)) for i, (c, label) in enumerate(TRUST)])  # fmt: skip
    item(3, "wtp", "numeric", "How much a year would you pay for better buses?",
         min_value=0, max_value=500, unit="USD")  # fmt: skip
    item(4, "priorities", "ranking", "Rank what the money should go to.",
         [("frequency", "More frequent buses"), ("safety", "Safer stops"),
          ("fares", "Lower fares")])  # fmt: skip
    item(5, "why", "free_text", "In a sentence, why do you feel that way?")
    return study


@pytest.fixture
def population():
    return population_create(size=8, areas=[AreaWeight("dallas_tx_city")], seed=13)


def config(server, **engine) -> dict:
    return {
        "llm": {"provider": "openai", "model": "gpt-test", "seed": 3,
                "base_url": server.openai_base_url},
        "engine": {"concurrency": 1, **engine},
    }  # fmt: skip


@pytest.fixture
def run_assigned(django_capture_on_commit_callbacks):
    """Start a run (its participants selected and assigned to control and cost by run_start)
    and let it execute once the request commits; the finished run."""

    def call(study, population, backend_config) -> Run:
        with django_capture_on_commit_callbacks(execute=True):
            run = run_start(
                study=study,
                population=population,
                backend="llm",
                backend_config=backend_config,
                seed=1,
                executor="inline",
            )
        run.refresh_from_db()
        return run

    return call


def prompts(server, title: str) -> list[str]:
    """The user prompts of the requests whose schema has this title."""
    out = []
    for request in server.requests:
        system = request.body["messages"][0]["content"]
        schema = json.loads(system.partition("JSON Schema:\n")[2])
        if schema.get("title") == title:
            out.append(request.body["messages"][1]["content"])
    return out


def test_every_item_type_runs_end_to_end_in_two_conditions(
    model_server, typed_study, population, run_assigned
):
    run = run_assigned(typed_study, population, config(model_server))

    assert run.status == Run.Status.COMPLETED, run.error_message
    assert (run.personas_done, run.personas_failed) == (8, 0)
    answers = {(a.persona_id, a.item.code): a for a in Answer.objects.select_related("item")}
    assert len(answers) == 8 * 6
    conditions = dict(RunParticipant.objects.values_list("persona_id", "condition"))
    for (persona_id, code), a in answers.items():
        assert a.condition == conditions[persona_id]
        assert len(a.reasoning) >= 10
        if code in ("levy", "trust"):
            assert a.option is not None and a.option.item.code == code
            assert (a.choices, a.number, a.text) == (None, None, "")
        elif code == "modes":
            assert a.option is None and 1 <= len(a.choices) <= 2
            assert len(set(a.choices)) == len(a.choices)
            assert set(a.choices) <= {"bus", "train", "bike", "car"}
        elif code == "priorities":
            assert a.option is None and sorted(a.choices) == ["fares", "frequency", "safety"]
        elif code == "wtp":
            assert a.option is None and 0 <= a.number <= 500
        else:
            assert code == "why" and a.option is None and a.text.strip()
        assert a.time_on_task_seconds and a.time_on_task_seconds > 0


def test_the_condition_reaches_the_prompts_stimulus_and_item_wording(
    model_server, typed_study, population, run_assigned
):
    run_assigned(typed_study, population, config(model_server))

    participation = prompts(model_server, "Participation")
    assert len(participation) == 8
    cost = [p for p in participation if STIMULUS in p]
    control = [p for p in participation if STIMULUS not in p]
    assert len(cost) == len(control) == 4
    assert all(VARIANT in p for p in cost)
    assert all("[levy] Would you vote for the transit levy?" in p for p in control)
    assert not any(VARIANT in p for p in control)
    # The context prompt names the condition (seed 004 §5.4); analyze knows it too.
    context = prompts(model_server, "PersonaContext")
    assert sum("Assigned experimental condition: Cost message (cost)" in p for p in context) == 4
    assert sum("Assigned experimental condition: Control (control)" in p for p in context) == 4
    analyze = prompts(model_server, "StudyAnalysis")
    assert len(analyze) == 8
    # Each type says how to answer; the Likert scale shows its points with their anchors.
    prompt = participation[0]
    assert "  - sa: 5 = Strongly agree" in prompt and "  - sd: 1 = Strongly disagree" in prompt
    assert "Answer with a number from 0 to 500 USD." in prompt
    assert "a list of 1 to 2 option codes" in prompt
    assert "a list of every option code, your first choice first" in prompt
    assert "errors, hesitations, abandonment" in prompt


def test_the_response_record_carries_ids_timestamp_and_behavioural_data(
    model_server, typed_study, population, run_assigned
):
    run = run_assigned(typed_study, population, config(model_server))

    for record in RunPersona.objects.filter(run=run):
        response = record.response
        assert response["personaId"] == record.persona_id
        assert response["studyProtocolId"] == typed_study.id
        assert datetime.fromisoformat(response["timestamp"]).tzinfo is not None
        assert [r["item"] for r in response["responses"]] == [
            "levy", "modes", "trust", "wtp", "priorities", "why",
        ]  # fmt: skip
        behaviour = response["behavioralData"]
        assert set(behaviour) == {"levy", "modes", "trust", "wtp", "priorities", "why"}
        for data in behaviour.values():
            assert set(data) == {"errors", "hesitations", "abandonment", "time_on_task_seconds"}
            assert isinstance(data["abandonment"], bool) and data["errors"] >= 0
        assert record.profile["studyRelevantAttributes"]
        assert response["condition"] in ("control", "cost")


def failing_then(server, *bad: dict):
    """The stand-in model, except that its first participation answers get the items in `bad`
    replaced (one reply per dict)."""
    replies = list(bad)

    def respond(body):
        answer = persona_responder(body)
        if "responses" in answer and replies:
            answer["responses"].update(replies.pop(0))
        return answer

    server.responder = respond


def good(answer) -> dict:
    return {"answer": answer, "reasoning": "It is what I would really do.", "time_on_task_seconds":
            12.0, "behavior": {"errors": 0, "hesitations": 1, "abandonment": False}}  # fmt: skip


def test_bad_answers_are_refused_by_the_schema_and_retried(
    model_server, typed_study, population, run_assigned
):
    failing_then(
        model_server,
        {"wtp": good(750)},  # above max_value
        {"priorities": good(["safety", "safety", "fares"])},  # not a permutation
    )
    run = run_assigned(typed_study, population, config(model_server))

    assert run.status == Run.Status.COMPLETED
    assert run.personas_failed == 0
    first = RunPersona.objects.filter(run=run).order_by("persona__index").first()
    assert first.llm_calls == 4 + 2  # two participation answers refused, the third taken
    retries = [
        r.body["messages"][-1]["content"]
        for r in model_server.requests
        if r.body["messages"][-1]["role"] == "user" and "could not be used" in
        r.body["messages"][-1]["content"]
    ]  # fmt: skip
    assert len(retries) == 2
    assert "wtp" in retries[0] and "less than or equal to 500" in retries[0]
    assert "rank every option exactly once" in retries[1] and "missing: ['frequency']" in retries[1]


def test_a_persona_whose_answers_stay_out_of_bounds_fails_at_participation(
    model_server, typed_study, population, run_assigned
):
    failing_then(model_server, *[{"modes": good(["bus", "bus"])}] * 3)
    run = run_assigned(typed_study, population, config(model_server))

    assert run.status == Run.Status.COMPLETED
    assert (run.personas_done, run.personas_failed) == (8, 1)
    failed = RunPersona.objects.get(run=run, status=RunPersona.Status.FAILED)
    assert failed.failed_step == "participation"
    assert "choose each option at most once" in failed.failure
    assert not Answer.objects.filter(run=run, persona=failed.persona).exists()


@pytest.mark.parametrize(
    ("item", "answer", "message"),
    [
        (ItemShape("q", "single_choice", ("yes", "no")), "maybe", "'yes' or 'no'"),
        (ItemShape("q", "likert", ("1", "2", "3")), "4", "'1', '2' or '3'"),
        (ItemShape("q", "multiple_choice", ("a", "b", "c"), max_choices=2), ["a", "b", "c"],
         "at most 2 items"),
        (ItemShape("q", "multiple_choice", ("a", "b", "c")), [], "at least 1 item"),
        (ItemShape("q", "multiple_choice", ("a", "b", "c")), ["a", "d"], "'a', 'b' or 'c'"),
        (ItemShape("q", "ranking", ("a", "b", "c")), ["a", "b"], "at least 3 items"),
        (ItemShape("q", "ranking", ("a", "b", "c")), ["a", "b", "b"], "repeated: ['b']"),
        (ItemShape("q", "numeric", min_value=0, max_value=10), -1, "greater than or equal to 0"),
        (ItemShape("q", "numeric", min_value=0, max_value=10), "lots", "valid number"),
        (ItemShape("q", "free_text"), "", "at least 1 character"),
    ],
)  # fmt: skip
def test_the_participation_schema_refuses_an_answer_that_breaks_its_items_rule(
    item, answer, message
):
    schema = participation_model(items=[item], think_aloud=False, time_on_task=False)
    with pytest.raises(ValidationError, match=re.escape(message)):
        schema.model_validate(
            {"responses": {"q": {"answer": answer, "reasoning": "Because that is how I am."}}}
        )


def test_the_participation_schema_states_each_types_rule_for_the_model():
    schema = participation_model(
        items=[
            ItemShape("one", "single_choice", ("yes", "no")),
            ItemShape("any", "multiple_choice", ("a", "b", "c"), max_choices=2),
            ItemShape("rank", "ranking", ("a", "b", "c")),
            ItemShape("n", "numeric", min_value=1, max_value=7, unit="days"),
            ItemShape("text", "free_text"),
        ],
        think_aloud=True,
        time_on_task=False,
        measures=("errors",),
    ).model_json_schema()
    defs = schema["$defs"]
    refs = schema["$defs"]["Responses"]["properties"]

    def answer(code):
        return defs[refs[code]["$ref"].rsplit("/", 1)[-1]]["properties"]["answer"]

    assert answer("one")["enum"] == ["yes", "no"]
    assert (answer("any")["minItems"], answer("any")["maxItems"]) == (1, 2)
    assert answer("any")["uniqueItems"] is True
    assert (answer("rank")["minItems"], answer("rank")["maxItems"]) == (3, 3)
    assert (answer("n")["minimum"], answer("n")["maximum"]) == (1, 7)
    assert "days" in answer("n")["description"]
    assert answer("text")["type"] == "string"
    first = defs[refs["one"]["$ref"].rsplit("/", 1)[-1]]
    assert {"answer", "reasoning", "think_aloud", "behavior"} <= set(first["required"])


def test_an_unknown_behavioural_measure_is_refused_before_the_run(typed_study, population, llm_env):
    typed_study.behavioral_measures = ["errors", "eye_tracking"]
    typed_study.save()
    from config.errors import DomainError

    with pytest.raises(DomainError, match="unknown measure\\(s\\) eye_tracking"):
        run_start(
            study=typed_study,
            population=population,
            backend="llm",
            backend_config={"llm": {"provider": "openai", "model": "gpt-test"}},
        )


def test_the_estimate_counts_the_analyze_step_and_the_raised_budgets(
    model_server, typed_study, population, price
):
    estimate = run_estimate(
        study=typed_study, population=population, backend="llm", backend_config=config(model_server)
    )
    steps = estimate["steps"]
    assert list(steps) == ["analyze", "context", "experience", "participation"]
    assert estimate["calls"] == 8 * 4
    # The participation budget: 300 + 400 per item + 1,400 for the free-text one.
    assert steps["participation"]["max_tokens"] == 300 + 5 * 400 + 1400
    assert steps["experience"]["max_tokens"] >= 600 + 300 * 4
    assert model_server.requests == []


def experience_requests(server) -> list[tuple[dict, str, int]]:
    """(episodes JSON Schema, prompt, max_tokens) of each experience request."""
    out = []
    for request in server.requests:
        system, prompt = (m["content"] for m in request.body["messages"][:2])
        schema = json.loads(system.partition("JSON Schema:\n")[2])
        if schema.get("title") == "Experience":
            out.append(
                (schema["properties"]["episodes"], prompt, request.body["max_completion_tokens"])
            )
    return out


def test_the_studys_depth_sets_the_episodes_and_the_run_may_override_it(
    model_server, typed_study, population, run_assigned
):
    typed_study.depth = "deep"
    typed_study.save()
    # Every level, the earlier name "basic" among them, and a persona without a tech profile.
    levels = ["novice", "basic", "beginner", "intermediate", "advanced", "expert", "expert", None]
    for persona, level in zip(Persona.objects.order_by("index"), levels, strict=True):
        persona.profile = {**(persona.profile or {}), "tech_proficiency": level}
        persona.save(update_fields=["profile"])
    run_assigned(typed_study, population, config(model_server))

    # Seed 004 §6.4 doubled (§11.3 deep), by each persona's level ("basic" is "beginner").
    deep = {"novice": (4, 8), "beginner": (8, 12), "basic": (8, 12), "intermediate": (12, 20),
            "advanced": (20, 30), "expert": (30, 40), None: (12, 20)}  # fmt: skip
    asked = experience_requests(model_server)
    assert len(asked) == 8
    assert sorted((e["minItems"], e["maxItems"]) for e, _, _ in asked) == sorted(
        deep[level] for level in levels
    )
    assert sum("This is a beginner technology user" in prompt for _, prompt, _ in asked) == 2
    for episodes, prompt, max_tokens in asked:
        lo, hi = episodes["minItems"], episodes["maxItems"]
        assert f"Write {lo} to {hi} episodes" in prompt
        assert "(deep depth)" in prompt
        # The output budget rose with the episodes asked for.
        assert max_tokens == 600 + 300 * hi

    model_server.reset()
    run_assigned(typed_study, population, config(model_server, depth="shallow"))
    asked = experience_requests(model_server)
    assert len(asked) == 8
    assert all("Write 2 to 4 episodes" in prompt for _, prompt, _ in asked)
