from __future__ import annotations

import pytest
from django.db import OperationalError

from studies.backends.poll_cell import PollCellBackend
from studies.models import Answer, Run
from studies.pipeline import run_fail, run_process_chunk
from studies.services import run_start
from studies.tasks import run_complete

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_retries(monkeypatch):
    """Let an eagerly applied task retry as a worker would (the test settings propagate the first
    exception instead, which stops at the first retry)."""
    monkeypatch.setitem(run_complete.app.conf, "task_eager_propagates", False)


def _queued_run(study, population) -> Run:
    # Not dispatched: on_commit callbacks do not run inside the test transaction.
    return run_start(study=study, population=population, seed=9, chunk_size=60, backend="poll_cell")


def test_aggregation_failing_on_every_retry_marks_the_run_failed(
    study, population, monkeypatch, eager_retries
):
    run = _queued_run(study, population)
    Run.objects.filter(id=run.id).update(status=Run.Status.RUNNING)
    calls = {"n": 0}

    def database_down(**kwargs):
        calls["n"] += 1
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("studies.tasks.run_finalize", database_down)
    result = run_complete.apply(args=([], run.id))
    assert result.failed() and isinstance(result.result, OperationalError)
    assert calls["n"] == run_complete.max_retries + 1
    run.refresh_from_db()
    # Not left "running" for ever: the last retry records why it gave up.
    assert run.status == Run.Status.FAILED
    assert "database was unavailable" in run.error_message and "resume_runs" in run.error_message
    # The driver's words (hosts, ports) are for the operator's log, not the run's owner.
    assert "could not connect to server" not in run.error_message
    assert run.finished_at is not None


def test_aggregation_that_recovers_on_a_retry_completes_the_run(
    study, population, monkeypatch, eager_retries
):
    from studies import tasks

    run = _queued_run(study, population)
    run_process_chunk(run_id=run.id, start=0, end=240, reporter=_Silent())
    real, calls = tasks.run_finalize, {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr("studies.tasks.run_finalize", flaky)
    monkeypatch.setattr("studies.tasks.ChannelsProgressReporter", lambda run_id: _Silent())
    assert run_complete.apply(args=([], run.id)).successful()
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED and not run.error_message


def test_a_chunk_stops_once_its_run_has_failed_elsewhere(study, population, monkeypatch):
    run = _queued_run(study, population)
    monkeypatch.setattr("studies.pipeline.CANCEL_CHECK_SECONDS", 0)
    calls = {"n": 0}
    original = PollCellBackend.answer

    def answer_then_fail(self, *, persona, item):
        calls["n"] += 1
        if calls["n"] == 10:  # another chunk's worker records a failure meanwhile
            run_fail(run_id=run.id, message="chunk 60-119 failed", reporter=_Silent())
        return original(self, persona=persona, item=item)

    monkeypatch.setattr(PollCellBackend, "answer", answer_then_fail)
    written = run_process_chunk(run_id=run.id, start=0, end=240, reporter=_Silent())
    assert written == 10
    assert Answer.objects.filter(run=run).count() == 10
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED


class _Silent:
    def progress(self, **kw): ...

    def completion(self, **kw): ...

    def error(self, **kw): ...


def test_a_transient_database_error_in_an_eager_run_fails_the_run_instead_of_leaving_it_running(
    study, population, monkeypatch
):
    """The embedded default runs chords eagerly, where a retry cannot be scheduled: a locked
    SQLite database must leave a failed, resumable run, not one "running" for ever."""
    run = _queued_run(study, population)

    def locked(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("studies.tasks.run_process_chunk", locked)
    from studies.dispatch import run_dispatch

    run_dispatch(run_id=run.id, executor="inline")
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "database was unavailable" in run.error_message
    assert "database is locked" not in run.error_message


def test_an_unexpected_failure_is_shown_without_its_internals(study, population, monkeypatch):
    run = _queued_run(study, population)

    def broken(**kwargs):
        raise RuntimeError("psycopg: server at 10.0.0.7:5432 said no")

    monkeypatch.setattr("studies.tasks.run_process_chunk", broken)
    from studies.dispatch import run_dispatch

    run_dispatch(run_id=run.id, executor="inline")
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "internal error (RuntimeError)" in run.error_message
    assert "10.0.0.7" not in run.error_message


def test_a_domain_failure_keeps_its_own_message(study, population, monkeypatch):
    from config.errors import DomainError

    run = _queued_run(study, population)

    def refused(**kwargs):
        raise DomainError("The study needs a grounded item; add poll_question.")

    monkeypatch.setattr("studies.tasks.run_process_chunk", refused)
    from studies.dispatch import run_dispatch

    run_dispatch(run_id=run.id, executor="inline")
    run.refresh_from_db()
    assert "add poll_question" in run.error_message
