"""Runs with the LLM backend: the persona engine against a local server speaking the providers'
real HTTP protocols, through the same pipeline and aggregation as offline runs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from config.errors import DomainError
from llm.models import LLMCall
from personas.models import Persona
from personas.services import AreaWeight, population_create
from studies.backends.poll_model import CHUNK_SIZE as POLL_MODEL_CHUNK_SIZE
from studies.models import Answer, Run, RunPersona
from studies.services import ItemSpec, OptionSpec, run_estimate, run_start, study_create
from tests.llm.fake_llm_server import FakeLLMServer, reply
from tests.studies.conftest import PRICE_IN, PRICE_OUT

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_population():
    return population_create(size=12, areas=[AreaWeight("dallas_tx_city")], seed=21)


@pytest.fixture
def llm_study(cces_question):
    return study_create(
        title="Employer coverage and a transit levy",
        description="Two questions on health coverage and paying for buses.",
        items=[
            ItemSpec(code="coverage", text=cces_question.text, poll_question_id=cces_question.id),
            ItemSpec(
                code="levy",
                text="Would you vote for a half-cent sales tax to pay for more buses?",
                options=[OptionSpec("yes", "Yes"), OptionSpec("no", "No")],
            ),
        ],
    )


def llm_config(server: FakeLLMServer, provider: str = "openai", **engine) -> dict:
    base_url = server.anthropic_base_url if provider == "anthropic" else server.openai_base_url
    model = "claude-test" if provider == "anthropic" else "gpt-test"
    return {
        "llm": {"provider": provider, "model": model, "seed": 3, "base_url": base_url},
        "engine": {"concurrency": 1, **engine},
    }


def start(study, population, config, **kwargs) -> Run:
    run = run_start(
        study=study,
        population=population,
        backend="llm",
        backend_config=config,
        seed=1,
        executor="inline",
        **kwargs,
    )
    return run


@pytest.fixture
def run_llm(run_on_commit):
    """Start a run and let it execute as it would once the request commits; the finished row."""

    def call(*args, **kwargs) -> Run:
        run = run_on_commit(start, *args, **kwargs)
        run.refresh_from_db()
        return run

    return call


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_llm_run_stores_all_four_artefacts_and_aggregates_like_offline_runs(
    provider, model_server, llm_study, small_population, run_llm
):
    run = run_llm(llm_study, small_population, llm_config(model_server, provider))

    assert run.status == Run.Status.COMPLETED, run.error_message
    assert run.personas_done == 12 and run.personas_failed == 0
    records = list(RunPersona.objects.filter(run=run))
    assert len(records) == 12
    for record in records:
        assert record.status == RunPersona.Status.OK
        assert record.narrative_source == RunPersona.NarrativeSource.LLM
        assert record.profile["demographics"]["area_id"] == "dallas_tx_city"
        assert len(record.context["life_narrative"]) >= 80
        assert record.experience["episodes"][1]["refers_to"] == [1]
        assert [r["item"] for r in record.response["responses"]] == ["coverage", "levy"]
        assert record.llm_calls == 4  # analyze, context, experience, participation
        assert record.profile["studyRelevantAttributes"]
    assert Answer.objects.filter(run=run).count() == 24
    levy = next(i for i in run.results["items"] if i["code"] == "levy")
    assert levy["n"] == 12
    assert sum(o["count"] for o in levy["options"]) == 12
    assert {"area", "age_bracket", "sex"} <= set(levy["breakdowns"])
    # Every request reached the server in the provider's own protocol, with the study in it.
    paths = {r.path for r in model_server.requests}
    assert paths == {"/v1/messages" if provider == "anthropic" else "/v1/chat/completions"}
    assert len(model_server.requests) == 48


def test_prompts_carry_the_studys_words_verbatim_not_html_escaped(
    model_server, cces_question, small_population, run_llm
):
    study = study_create(
        title="Parks & Recreation",
        description="Don't the city's \"pocket parks\" need <more> shade & benches?",
        items=[
            ItemSpec(
                code="shade",
                text="Would you pay $5 a year for the city's shade trees?",
                options=[OptionSpec("yes", "Yes, I'd pay"), OptionSpec("no", "No")],
            )
        ],
    )
    run = run_llm(study, small_population, llm_config(model_server))

    assert run.status == Run.Status.COMPLETED, run.error_message
    prompts = [m["content"] for r in model_server.requests for m in r.body["messages"]]
    assert any(
        "Don't the city's \"pocket parks\" need <more> shade & benches?" in p for p in prompts
    )
    assert any("Yes, I'd pay" in p for p in prompts)
    assert not [p for p in prompts if "&#x27;" in p or "&amp;" in p or "&quot;" in p or "&lt;" in p]


def test_the_cost_is_the_tokens_at_the_price_and_a_rerun_is_served_from_the_cache(
    model_server, llm_study, small_population, price, run_llm
):
    first = run_llm(llm_study, small_population, llm_config(model_server))
    calls = LLMCall.objects.filter(run_id=first.id)
    tokens_in = sum(c.input_tokens for c in calls)
    tokens_out = sum(c.output_tokens for c in calls)
    expected = (tokens_in * PRICE_IN + tokens_out * PRICE_OUT) / Decimal(1_000_000)
    assert first.cost_spent == expected > 0
    assert (first.input_tokens, first.output_tokens) == (tokens_in, tokens_out)
    assert first.llm_calls == 48 and first.cached_calls == 0
    assert first.cost_estimate["amount"] is not None

    served = len(model_server.requests)
    second = run_llm(llm_study, small_population, llm_config(model_server))

    assert second.status == Run.Status.COMPLETED
    assert len(model_server.requests) == served  # nothing went out
    assert second.cached_calls == second.llm_calls == 48
    assert second.cost_spent == 0

    def picks(run):
        return list(
            Answer.objects.filter(run=run)
            .order_by("persona_id", "item__order")
            .values_list("persona_id", "item__code", "option__code")
        )

    assert picks(second) == picks(first)


def test_a_persona_whose_answers_stay_invalid_fails_alone_and_the_run_goes_on(
    model_server, llm_study, small_population, run_llm
):
    # The first persona's first call (analyze) gets three unusable replies: not JSON, then
    # the wrong shape.
    model_server.script(
        reply("I would rather not say."),
        reply({"attributes": []}),
        reply({"attributes": []}),
    )
    run = run_llm(llm_study, small_population, llm_config(model_server))

    assert run.status == Run.Status.COMPLETED
    assert (run.personas_done, run.personas_failed) == (12, 1)
    failed = RunPersona.objects.get(run=run, status=RunPersona.Status.FAILED)
    assert failed.failed_step == "analyze"
    assert "attempt 1: the reply is not valid JSON" in failed.failure
    assert "attributes" in failed.failure
    assert not Answer.objects.filter(run=run, persona=failed.persona).exists()
    # The model read why its reply was refused before trying again.
    retry_prompt = model_server.requests[1].body["messages"][-1]["content"]
    assert "could not be used" in retry_prompt
    levy = next(i for i in run.results["items"] if i["code"] == "levy")
    assert levy["n"] == 11


def test_a_run_estimated_above_its_budget_is_refused_and_nothing_is_stored(
    model_server, llm_study, small_population, price
):
    with pytest.raises(DomainError) as refused:
        start(llm_study, small_population, llm_config(model_server), budget=Decimal("0.0001"))
    assert refused.value.code == "over_budget"
    assert "above the budget of 0.0001" in refused.value.message
    assert not Run.objects.exists()
    assert model_server.requests == []


def test_a_budget_without_a_price_cannot_be_enforced(model_server, llm_study, small_population):
    with pytest.raises(DomainError) as refused:
        start(llm_study, small_population, llm_config(model_server), budget=Decimal("5"))
    assert refused.value.code == "price_unknown"
    assert "Model prices" in refused.value.message


def test_a_running_run_stops_at_its_budget_and_keeps_what_it_answered(
    model_server, llm_study, price, run_llm
):
    population = population_create(size=40, areas=[AreaWeight("detroit_mi_city")], seed=4)
    config = llm_config(model_server)
    estimate = run_estimate(
        study=llm_study, population=population, backend="llm", backend_config=config
    )
    budget = Decimal(estimate["amount"]) * Decimal("1.1")
    # The model turns out far wordier than the estimate assumed: 20,000 tokens in every call.
    model_server.responder_tokens = (20_000, 500)
    run = run_llm(llm_study, population, config, budget=budget)

    assert run.status == Run.Status.STOPPED
    assert 0 < run.personas_done < 40
    assert run.cost_spent >= budget
    # It stopped at the first persona that reached the cap: without it, it was still under.
    last = RunPersona.objects.filter(run=run).order_by("-id").first()
    assert run.cost_spent - last.cost < budget
    assert run.results["personas_answered"] == run.personas_done
    assert "budget" in run.error_message


def test_a_missing_api_key_refuses_the_run_with_what_to_set(
    model_server, llm_study, small_population, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(DomainError) as refused:
        start(llm_study, small_population, llm_config(model_server))
    assert "OPENAI_API_KEY" in refused.value.message
    assert refused.value.code == "invalid_backend_config"


def test_a_replay_only_run_with_an_empty_cache_fails_without_calling_out(
    model_server, llm_study, small_population, run_llm, settings
):
    settings.LLM_REPLAY_ONLY = True
    run = run_llm(llm_study, small_population, llm_config(model_server))

    assert run.status == Run.Status.FAILED
    assert "replay" in run.error_message.lower()
    assert model_server.requests == []


def test_pool_personas_skip_context_engineering(model_server, llm_study, small_population, run_llm):
    pooled = {
        "life_narrative": "Came to Dallas for a warehouse job in 2009 and stayed for the family, "
        "the church and a mortgage that finally feels manageable.",
        "relevant_habits": ["Drives everywhere"],
        "attitudes_and_opinions": ["Distrusts new taxes"],
        "pain_points": ["Insurance premiums"],
        "motivations": ["Paying off the house"],
    }
    for persona in Persona.objects.filter(population=small_population):
        persona.profile = {**(persona.profile or {}), "context": pooled}
        persona.save(update_fields=["profile"])

    run = run_llm(llm_study, small_population, llm_config(model_server))

    assert run.status == Run.Status.COMPLETED
    record = RunPersona.objects.filter(run=run).first()
    assert record.narrative_source == RunPersona.NarrativeSource.POOL
    assert record.context["life_narrative"] == pooled["life_narrative"]
    assert record.llm_calls == 3  # analyze, experience, participation
    assert len(model_server.requests) == 36


def test_think_aloud_and_time_on_task_are_stored_when_the_study_asks(
    model_server, llm_study, small_population, run_llm
):
    llm_study.think_aloud = llm_study.time_on_task = True
    llm_study.save()
    run = run_llm(llm_study, small_population, llm_config(model_server))

    answers = Answer.objects.filter(run=run)
    assert answers.count() == 24
    assert all(a.think_aloud and a.time_on_task_seconds for a in answers)


def test_the_consistency_check_is_recorded_when_asked(
    model_server, llm_study, small_population, run_llm
):
    run = run_llm(llm_study, small_population, llm_config(model_server, consistency_check=True))
    record = RunPersona.objects.filter(run=run).first()
    assert record.consistency == {"consistent": True, "issues": []}
    assert record.llm_calls == 5


def test_offline_runs_label_their_narrative_as_built_from_the_profile(
    study, small_population, run_on_commit
):
    run = run_on_commit(
        run_start, study=study, population=small_population, seed=2, executor="inline"
    )
    record = RunPersona.objects.filter(run=run).first()
    assert record.narrative_source == RunPersona.NarrativeSource.STRUCTURED_PROFILE
    assert record.llm_calls == 0 and record.cost == 0
    assert record.response["responses"][0]["item"] == "coverage"


def test_an_llm_run_sizes_its_chunks_by_the_engine_concurrency(
    model_server, llm_study, study, small_population, settings
):
    settings.RUN_CHUNK_SIZE = 250
    config = llm_config(model_server)
    config["engine"]["concurrency"] = 3
    run = run_start(
        study=llm_study, population=small_population, backend="llm", backend_config=config
    )
    assert run.chunk_size == 12  # four rounds of three threads
    offline = run_start(study=study, population=small_population)
    # The poll model answers a chunk column-wise and sizes its own chunks (pipeline_offline).
    assert offline.chunk_size == POLL_MODEL_CHUNK_SIZE
    assert (
        run_start(study=study, population=small_population, backend="poll_cell").chunk_size == 250
    )
