from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from studies.models import Answer, Run
from studies.pipeline import run_process_chunk
from studies.services import run_start

pytestmark = pytest.mark.django_db


def _run(study, population, *, answered: int, idle_minutes: float) -> Run:
    """A run left running with `answered` personas done, last progress `idle_minutes` ago."""
    run = run_start(study=study, population=population, seed=9, chunk_size=60)
    if answered:
        run_process_chunk(run_id=run.id, start=0, end=answered, reporter=_Silent())
    then = timezone.now() - timedelta(minutes=idle_minutes)
    Answer.objects.filter(run=run).update(created_at=then)
    Run.objects.filter(id=run.id).update(
        status=Run.Status.RUNNING if answered else Run.Status.QUEUED,
        created_at=then - timedelta(minutes=1),
        started_at=then if answered else None,
    )
    return run


def test_without_a_run_or_a_staleness_threshold_nothing_is_redispatched(study, population):
    run = _run(study, population, answered=60, idle_minutes=0)
    with pytest.raises(CommandError, match="--stale-minutes") as raised:
        call_command("resume_runs", stdout=StringIO())
    assert "--run" in str(raised.value)
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and Answer.objects.filter(run=run).count() == 60


def test_only_runs_without_progress_for_the_threshold_are_resumed(study, population, run_on_commit):
    live = _run(study, population, answered=60, idle_minutes=2)
    stale = _run(study, population, answered=60, idle_minutes=30)
    never_started = _run(study, population, answered=0, idle_minutes=30)
    out = StringIO()
    run_on_commit(call_command, "resume_runs", stale_minutes=10, stdout=out)
    for run in (live, stale, never_started):
        run.refresh_from_db()
    # A worker may still be answering the live run: it is left alone.
    assert live.status == Run.Status.RUNNING and live.personas_done == 60
    for run in (stale, never_started):
        assert run.status == Run.Status.COMPLETED and run.personas_done == 240
    assert f"Run {live.id}" not in out.getvalue()
    assert f"Run {stale.id}:" in out.getvalue() and f"Run {never_started.id}:" in out.getvalue()


def test_no_stale_run_is_said_plainly(study, population):
    _run(study, population, answered=60, idle_minutes=1)
    out = StringIO()
    call_command("resume_runs", stale_minutes=10, stdout=out)
    assert "No queued or running run has been idle for 10 minutes" in out.getvalue()


@pytest.mark.parametrize("minutes", [0, -5])
def test_a_threshold_below_one_minute_is_refused(minutes):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("resume_runs", stale_minutes=minutes, stdout=StringIO())


class _Silent:
    def progress(self, **kw): ...

    def completion(self, **kw): ...

    def error(self, **kw): ...


# --- the watchdog (studies.tasks.runs_resume_stale, on Celery beat) -----------------------------


def test_the_watchdog_resumes_a_silent_run_to_exactly_one_answer_per_persona(
    study, population, run_on_commit, settings
):
    from studies.tasks import runs_resume_stale

    settings.RUN_STALE_SECONDS = 60
    run = _run(study, population, answered=60, idle_minutes=2)
    assert run_on_commit(runs_resume_stale) == [run.id]
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED and run.resume_count == 1
    answers = Answer.objects.filter(run=run)
    assert answers.count() == run.personas_total
    assert answers.values("persona_id").distinct().count() == run.personas_total


def test_a_run_with_a_recent_heartbeat_is_left_to_its_worker(study, population, settings):
    from studies.tasks import runs_resume_stale

    settings.RUN_STALE_SECONDS = 60
    run = _run(study, population, answered=60, idle_minutes=5)
    # No answer for 5 minutes, but its worker beat 10 s ago: a slow chunk, not a dead one.
    Run.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(seconds=10))
    assert runs_resume_stale() == []


def test_each_resume_doubles_the_wait_before_the_next(study, population, settings):
    from studies.tasks import runs_resume_stale

    settings.RUN_STALE_SECONDS = 60
    run = _run(study, population, answered=60, idle_minutes=5)
    Run.objects.filter(id=run.id).update(
        resume_count=1, heartbeat_at=timezone.now() - timedelta(seconds=90)
    )
    assert runs_resume_stale() == []  # 90 s < 2 x 60 s
    Run.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(seconds=130))
    assert runs_resume_stale() == [run.id]
    assert Run.objects.get(id=run.id).resume_count == 2


def _result_store_gave_up() -> RuntimeError:
    """What Celery's Redis result backend raises once its reconnection retries are spent."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        try:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379.")
        except RedisConnectionError as cause:
            raise RuntimeError("Retry limit exceeded while trying to reconnect") from cause
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize("down", ["broker", "result store"])
def test_a_run_started_while_the_broker_is_down_stays_queued_for_the_watchdog(
    down, api, study, population, run_on_commit, monkeypatch, settings
):
    from kombu.exceptions import OperationalError as BrokerError

    import studies.dispatch as dispatch

    class _Unreachable:
        def apply_async(self):
            if down == "broker":
                raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            raise _result_store_gave_up()

    monkeypatch.setattr(dispatch, "run_canvas", lambda run: _Unreachable())
    settings.RUN_EXECUTOR = "celery"
    response = run_on_commit(
        api.post,
        "/api/v1/runs/",
        {"study": study.id, "population": population.id, "backend": "poll_cell"},
        format="json",
    )
    assert response.status_code == 201 and response.json()["status"] == "queued"
    run = Run.objects.get(id=response.json()["id"])
    assert run.status == Run.Status.QUEUED and run.answers.count() == 0


def test_a_dispatch_error_that_is_not_an_outage_is_not_swallowed(
    study, population, monkeypatch, settings
):
    import studies.dispatch as dispatch
    from studies.services import run_start

    class _Broken:
        def apply_async(self):
            raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(dispatch, "run_canvas", lambda run: _Broken())
    run = run_start(study=study, population=population, seed=1, backend="poll_cell")
    with pytest.raises(RuntimeError, match="a bug"):
        dispatch.run_dispatch(run_id=run.id, executor="celery")
