"""Celery tasks of the run pipeline: they take ids, call a service, and own their retry policy."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from studies.pipeline import run_fail, run_finalize, run_process_chunk
from studies.progress import ChannelsProgressReporter

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
    try:
        return run_process_chunk(run_id=run_id, start=start, end=end, reporter=reporter)
    except TRANSIENT as exc:
        if _last_try(self):
            logger.error("Run %s: database unavailable, retries spent: %s", run_id, exc)
            run_fail(run_id=run_id, message=_DATABASE_DOWN, reporter=reporter)
        raise
    except Exception as exc:
        logger.exception("Run %s chunk %s-%s failed", run_id, start, end)
        run_fail(
            run_id=run_id,
            message=f"Personas {start}–{end - 1} could not be answered: {user_message(exc)}",
            reporter=reporter,
        )
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
        return run_finalize(run_id=run_id, reporter=reporter).status
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
