"""Celery tasks of the run pipeline: they take ids, call a service, and own their retry policy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import F
from django.utils import timezone

from config import telemetry
from studies.models import Run
from studies.pipeline import run_fail, run_finalize, run_process_chunk
from studies.progress import ChannelsProgressReporter
from studies.selectors import run_list_stale

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)
_DATABASE_DOWN = (
    "The database was unavailable for longer than the retries allow; the answers stored so far "
    "are kept, and the run can be resumed (manage.py resume_runs) once the database is back."
)


def user_message(exc: BaseException) -> str:
    """What a run's owner may read about a failure: our own errors say what went wrong and how to
    fix it; anything else (driver errors name hosts, ports, SQL) is logged for the operator and
    shown only as an internal error."""
    from config.errors import DomainError
    from llm.errors import LLMError

    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, LLMError):
        return str(exc)
    return f"an internal error ({type(exc).__name__}); the details are in the server log."


def chunk_failure_message(exc: BaseException, start: int, end: int) -> str:
    """What a run's owner reads when its chunk of personas [start, end) raised `exc` and no retry
    follows."""
    if isinstance(exc, TRANSIENT):
        return _DATABASE_DOWN
    return f"Personas {start}–{end - 1} could not be answered: {user_message(exc)}"


def _last_try(task) -> bool:
    """No retry will follow: the retries are spent, or the task runs eagerly with propagation (the
    embedded default and the demo), where the Retry it raises ends the chord instead of running it
    again; the run must then be marked failed, or it would show "running" for ever."""
    if task.request.retries >= task.max_retries:
        return True
    return bool(task.request.is_eager and task.app.conf.task_eager_propagates)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def run_chunk(self, run_id: int, start: int, end: int) -> int:
    """Answer personas [start, end) of a run; idempotent, so a re-delivery writes nothing twice."""
    reporter = ChannelsProgressReporter(run_id)
    # Eager runs (the embedded default, tests) have no watchdog to tell, and a second writer
    # would only contend for SQLite's lock.
    alive = nullcontext() if self.request.is_eager else _heartbeat(run_id)
    try:
        with (
            alive,
            telemetry.span(
                "run.chunk",
                {
                    "personalab.run.id": run_id,
                    "personalab.chunk.start": start,
                    "personalab.chunk.end": end,
                    "personalab.chunk.personas": end - start,
                    "personalab.chunk.try": self.request.retries + 1,
                },
            ) as span,
        ):
            written = run_process_chunk(run_id=run_id, start=start, end=end, reporter=reporter)
            span.set_attribute("personalab.chunk.personas_processed", written)
            return written
    except TRANSIENT as exc:
        if _last_try(self):
            logger.error("Run %s: database unavailable, retries spent: %s", run_id, exc)
            run_fail(run_id=run_id, message=_DATABASE_DOWN, reporter=reporter)
        raise
    except Exception as exc:
        logger.exception("Run %s chunk %s-%s failed", run_id, start, end)
        run_fail(run_id=run_id, message=chunk_failure_message(exc, start, end), reporter=reporter)
        raise


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def run_complete(self, _chunk_results: list | None, run_id: int) -> str:
    """Chord callback: aggregate the answers once every chunk has finished."""
    reporter = ChannelsProgressReporter(run_id)
    try:
        with telemetry.span("run.finalize", {"personalab.run.id": run_id}) as span:
            status = run_finalize(run_id=run_id, reporter=reporter).status
            span.set_attribute("personalab.run.status", status)
            return status
    except TRANSIENT as exc:
        # The last retry gives up: record why, or the run would show "running" for ever.
        if _last_try(self):
            logger.error("Run %s: database unavailable, retries spent: %s", run_id, exc)
            run_fail(run_id=run_id, message=_DATABASE_DOWN, reporter=reporter)
        raise
    except Exception as exc:
        logger.exception("Run %s could not be aggregated", run_id)
        run_fail(
            run_id=run_id,
            message=f"Aggregation failed: {user_message(exc)}",
            reporter=reporter,
        )
        raise


@contextmanager
def _heartbeat(run_id: int) -> Iterator[None]:
    """While a chunk runs on a worker, a thread marks the run alive every RUN_HEARTBEAT_SECONDS,
    however long its answers take; a killed worker stops beating and the watchdog notices."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while True:
                try:
                    Run.objects.filter(id=run_id).update(heartbeat_at=timezone.now())
                except Exception as exc:  # the database may be down: the chunk will say so
                    logger.warning("Run %s: heartbeat not stored: %s", run_id, exc)
                if stop.wait(settings.RUN_HEARTBEAT_SECONDS):
                    return
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-run-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def runs_resume_stale(*, now=None) -> list[int]:
    """Hand every run whose workers fell silent back to the workers; chunks skip the personas
    already answered, so nothing is written twice. A run is silent after RUN_STALE_SECONDS
    without a heartbeat or an answer, doubled for each earlier resume (up to 64×), so a run whose
    chunks merely wait behind other work is not re-queued again and again."""
    from studies.services import run_resume  # services -> dispatch -> tasks: import late

    now = now or timezone.now()
    base = settings.RUN_STALE_SECONDS
    resumed = []
    for run in run_list_stale(idle_for=timedelta(seconds=base)):
        idle = (now - run.last_progress).total_seconds()
        if idle < base * 2 ** min(run.resume_count, 6):
            continue
        with transaction.atomic():
            claimed = Run.objects.filter(
                id=run.id,
                status__in=[Run.Status.QUEUED, Run.Status.RUNNING],
                resume_count=run.resume_count,
            ).update(heartbeat_at=now, resume_count=F("resume_count") + 1)
            if not claimed:  # finished, or another watchdog got there first
                continue
            run_resume(run=run, executor="celery")
        logger.warning("Run %s was silent for %.0f s: resumed", run.id, idle)
        resumed.append(run.id)
    return resumed


@shared_task
def runs_watchdog_task() -> list[int]:
    """Celery beat, every RUN_WATCHDOG_SECONDS: resume runs whose worker died (kill -9, lost
    broker messages, a database outage that outlasted the retries)."""
    return runs_resume_stale()
