"""Which runs spread over processes without Celery workers (`studies.lanes`), and a lane's share
of the engine's concurrency. The pool's processes open the test database's file, so those tests
commit what they write (`transaction=True`); the embedded stack's integration test runs a spread
run under the production web server (tests/integration/test_embedded_stack.py)."""

# The fixtures imported from test_llm_backend are parameters here (pytest's way), not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from django.db import connection, connections

from llm.models import LLMCall
from personas.services import AreaWeight, population_create
from polls.models import Question
from studies.backends.llm import LLMBackend
from studies.lanes import lane_count, run_lanes
from studies.lanes_process import ChunkFailed, _Recorder, answer_chunk
from studies.models import Answer, Run
from studies.pipeline import run_execute, run_finalize, run_process_chunk
from studies.services import run_start
from tests.conftest import load_reference_data
from tests.llm.fake_llm_server import error
from tests.studies.test_llm_backend import llm_config, llm_study  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def population():
    return population_create(size=16, areas=[AreaWeight("dallas_tx_city")], seed=5)


@pytest.fixture
def spread(settings, monkeypatch):
    """Two processes from one persona on, on a database as if other processes could open it."""
    settings.RUN_LOCAL_PROCESSES = 2
    settings.RUN_LOCAL_PROCESSES_MIN_PERSONAS = 1
    settings.LLM_RATE_LIMITS = {}
    monkeypatch.setattr(type(connections["default"]), "is_in_memory_db", lambda self: False)
    return settings


def _run(study, population, config, **kwargs) -> Run:
    return run_start(
        study=study,
        population=population,
        backend="llm",
        backend_config=config,
        seed=1,
        executor="caller",
        **kwargs,
    )


def test_a_language_model_run_of_several_chunks_spreads_over_the_processes(
    spread, model_server, llm_study, population
):
    run = _run(llm_study, population, llm_config(model_server, concurrency=4), chunk_size=4)
    assert lane_count(run) == 2
    spread.RUN_LOCAL_PROCESSES = 3
    assert lane_count(run) == 3
    # Never more lanes than chunks.
    one_chunk = _run(llm_study, population, llm_config(model_server), chunk_size=16)
    assert lane_count(one_chunk) == 1


def test_runs_stay_in_one_process_when_spreading_does_not_pay_or_is_not_safe(
    spread, model_server, llm_study, population
):
    run = _run(llm_study, population, llm_config(model_server, concurrency=4), chunk_size=4)
    spread.RUN_LOCAL_PROCESSES = 1
    assert lane_count(run) == 1
    spread.RUN_LOCAL_PROCESSES = 2
    spread.RUN_LOCAL_PROCESSES_MIN_PERSONAS = 17  # the run has 16
    assert lane_count(run) == 1
    spread.RUN_LOCAL_PROCESSES_MIN_PERSONAS = 1
    # The provider's limits are kept in this process (no Redis): each process would keep the
    # whole limit for itself.
    spread.LLM_RATE_LIMITS = {"openai": {"requests_per_minute": 500}}
    assert lane_count(run) == 1
    spread.LLM_RATE_LIMITS = {}
    # The offline backends answer in bulk, with no network to wait on.
    run.backend = "poll_model"
    assert lane_count(run) == 1


def test_an_in_memory_database_keeps_the_run_in_its_process(
    spread, monkeypatch, model_server, llm_study, population
):
    run = _run(llm_study, population, llm_config(model_server, concurrency=4), chunk_size=4)
    monkeypatch.setattr(type(connections["default"]), "is_in_memory_db", lambda self: True)
    assert lane_count(run) == 1


def test_shared_limits_let_a_limited_provider_spread(settings, model_server):
    settings.LLM_RATE_LIMITS = {"openai": {"requests_per_minute": 500}}
    config = llm_config(model_server)
    settings.REDIS_URL = ""
    settings.LLM_RATELIMIT_REDIS_URL = ""
    assert not LLMBackend.spreads_over_processes(config)
    settings.LLM_RATELIMIT_REDIS_URL = "redis://127.0.0.1:6379/9"
    assert LLMBackend.spreads_over_processes(config)
    # A config the run would refuse does not spread (the run is refused with its reason).
    assert not LLMBackend.spreads_over_processes({"llm": {"provider": "nope"}})


def test_a_lane_sends_its_share_of_the_runs_requests_at_once(
    model_server, llm_study, population, settings
):
    settings.RUN_LOCAL_PROCESSES = 1
    model_server.latency_s = 0.2
    run = _run(llm_study, population, llm_config(model_server, concurrency=8))

    written = run_process_chunk(run_id=run.id, start=0, end=16, reporter=_Recorder(), lanes=2)

    assert written == 16
    # Two lanes of a run of 8 at once: this one sends 4 at a time, and keeps them busy.
    assert 3 <= model_server.max_in_flight <= 4


def test_a_pool_chunk_reports_its_stop_and_fails_with_a_message_that_pickles():
    import pickle

    recorder = _Recorder()
    recorder.progress(status="running", done=1, total=2)
    recorder.completion(status="stopped", done=1, total=2)
    recorder.error(message="Personas 0–9 could not be answered: x", done=1, total=2)
    # Progress is the calling process's to relay; the rest is kept to be replayed there.
    assert recorder.events == [
        ("completion", {"status": "stopped", "done": 1, "total": 2}),
        ("error", {"message": "Personas 0–9 could not be answered: x", "done": 1, "total": 2}),
    ]
    failed = pickle.loads(pickle.dumps(ChunkFailed("Personas 0–9 could not be answered: x")))
    assert str(failed) == "Personas 0–9 could not be answered: x"


# --- the pool: real processes on the test database's file -----------------------------------------


@pytest.fixture
def reference_data():
    """A transactional test empties the database after it: the reference data is loaded again
    when an earlier one took it."""
    if not Question.objects.filter(poll__slug="cces-2018-abortion").exists():
        load_reference_data()


def _answers(run: Run) -> list[tuple]:
    return list(
        Answer.objects.filter(run=run)
        .order_by("persona_id", "item_id")
        .values_list("persona_id", "item_id", "option_id", "number", "text")
    )


@pytest.mark.django_db(transaction=True)
def test_a_spread_run_is_answered_by_two_processes_as_one_process_answers_it(
    reference_data, settings, model_server, llm_study, population
):
    settings.RUN_LOCAL_PROCESSES = 2
    settings.LLM_RATE_LIMITS = {}
    model_server.latency_s = 0.05
    run = _run(llm_study, population, llm_config(model_server, concurrency=4), chunk_size=4)
    reporter = _Recorder()

    report = run_lanes(run=run, lanes=2, reporter=reporter)

    assert report.completed
    assert len(report.personas_by_process) == 2, report  # this process and one of the pool
    assert sum(report.personas_by_process.values()) == 16
    assert model_server.max_in_flight <= 4  # two requests at once in each
    finished = run_finalize(run_id=run.id, reporter=reporter)
    assert finished.status == Run.Status.COMPLETED and finished.personas_done == 16
    assert finished.llm_calls == 16 * 4 == LLMCall.objects.filter(run_id=run.id).count()

    # One process, one chunk, another model name (nothing from the cache): the same answers.
    config = llm_config(model_server, concurrency=4)
    config["llm"]["model"] = "gpt-one-process"
    single = _run(llm_study, population, config, chunk_size=16)
    assert lane_count(single) == 1
    single = run_execute(run_id=single.id, reporter=_Recorder())
    assert single.status == Run.Status.COMPLETED and single.cached_calls == 0
    assert _answers(single) == _answers(finished) and len(_answers(single)) == 16 * 2

    # Spread again with the first config: every call is read from the cache, on each process's
    # reader connection (`llm.loops._Reader`), and the model is not asked again.
    # Through `run_execute` this time (the command line's executor), which spreads it itself.
    asked = len(model_server.requests)
    settings.RUN_LOCAL_PROCESSES_MIN_PERSONAS = 16
    again = _run(llm_study, population, llm_config(model_server, concurrency=4), chunk_size=4)
    assert lane_count(again) == 2
    again = run_execute(run_id=again.id, reporter=_Recorder())
    assert again.status == Run.Status.COMPLETED
    assert again.cached_calls == again.llm_calls == 16 * 4
    assert len(model_server.requests) == asked
    assert _answers(again) == _answers(finished)


@pytest.mark.django_db(transaction=True)
def test_a_chunk_failing_in_a_pool_process_fails_the_run_with_its_reason(
    reference_data, settings, model_server, llm_study, population
):
    settings.RUN_LOCAL_PROCESSES = 2
    settings.LLM_RATE_LIMITS = {}
    model_server.responder = lambda body: error(401, message="invalid api key")
    run = _run(llm_study, population, llm_config(model_server, concurrency=4), chunk_size=4)

    # What a pool process raises: the message the run stores, the original logged there.
    with pytest.raises(ChunkFailed, match=r"^Personas 4–7 could not be answered: .*401"):
        answer_chunk(run.id, 4, 8, 2, str(connection.settings_dict["NAME"]))

    reporter = _Recorder()
    report = run_lanes(run=run, lanes=2, reporter=reporter)

    assert not report.completed
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "could not be answered" in run.error_message and "401" in run.error_message
    assert reporter.events[-1][0] == "error"  # told once, by whichever lane failed first
    assert [kind for kind, _ in reporter.events].count("error") == 1
