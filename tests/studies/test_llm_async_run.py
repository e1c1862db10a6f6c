"""LLM runs with many personas in flight on the chunk's event loop: concurrency, the budget stop,
per-persona failures and every call logged."""

# The fixtures imported from test_llm_backend are parameters here (pytest's way), not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

from decimal import Decimal

import pytest

from llm.models import LLMCall
from personas.services import AreaWeight, population_create
from studies.models import Run, RunPersona
from studies.services import run_estimate
from tests.llm.fake_llm_server import error
from tests.llm.persona_responder import persona_responder
from tests.studies.test_llm_backend import llm_config, llm_study, run_llm  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def population():
    return population_create(size=16, areas=[AreaWeight("dallas_tx_city")], seed=5)


def test_personas_are_answered_many_at_once_on_one_loop(
    model_server,
    llm_study,
    population,
    run_llm,
):
    model_server.latency_s = 0.2

    run = run_llm(llm_study, population, llm_config(model_server, concurrency=8))

    assert run.status == Run.Status.COMPLETED
    assert run.personas_done == 16 and run.personas_failed == 0
    assert 4 <= model_server.max_in_flight <= 8  # several at once, never above the concurrency
    assert LLMCall.objects.filter(run_id=run.id).count() == run.llm_calls == 16 * 4


def test_a_run_with_many_in_flight_stops_at_its_budget_and_logs_every_call_made(
    model_server,
    llm_study,
    population,
    price,
    run_llm,
):
    config = llm_config(model_server, concurrency=6)
    estimate = run_estimate(
        study=llm_study, population=population, backend="llm", backend_config=config
    )
    budget = Decimal(estimate["amount"]) * Decimal("1.1")
    # The model turns out far wordier than the estimate assumed: 20,000 tokens in every call.
    model_server.responder_tokens = (20_000, 500)

    run = run_llm(llm_study, population, config, budget=budget)

    assert run.status == Run.Status.STOPPED
    assert 0 < run.personas_done < 16
    assert run.cost_spent >= budget
    # The personas in flight at the stop were not stored, but their calls were made and logged.
    stored = RunPersona.objects.filter(run=run).count()
    assert stored == run.personas_done
    logged = LLMCall.objects.filter(run_id=run.id)
    assert logged.count() >= run.llm_calls
    assert logged.values("persona_id").distinct().count() >= stored


def test_a_persona_whose_provider_gives_up_fails_alone_with_the_reason(
    model_server,
    llm_study,
    population,
    run_llm,
):
    # Every try of the first request the server sees gets 503 (a retry repeats its body): that
    # persona fails at its first step while the others, in flight with it, go on.
    doomed: dict[str, str] = {}

    def responder(body: dict):
        content = body["messages"][-1]["content"]
        if doomed.setdefault("content", content) == content:
            return error(503)
        return persona_responder(body)

    model_server.responder = responder

    run = run_llm(llm_study, population, llm_config(model_server, concurrency=4))

    assert run.status == Run.Status.COMPLETED
    assert run.personas_failed == 1 and run.personas_done == 16
    failed = RunPersona.objects.get(run=run, status=RunPersona.Status.FAILED)
    assert failed.failed_step == "analyze"
    assert "503" in failed.failure and "5 tries" in failed.failure
    assert LLMCall.objects.filter(run_id=run.id, http_status=503).count() == 5
