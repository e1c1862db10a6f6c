"""Work started by a request and done off it (a poll import, a large population build), handed to
the executor runs use (RUN_EXECUTOR, see studies.dispatch): a Celery worker, a background thread of
this process (embedded default), or the calling thread (tests). The job's own row records its
progress and outcome, so a caller only needs its id."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

_executor: ContextVar[str | None] = ContextVar("executor", default=None)


def executor_default() -> str:
    """Where work goes when its caller names no executor: the innermost `executor_for` block's
    choice, else RUN_EXECUTOR."""
    return _executor.get() or settings.RUN_EXECUTOR


@contextmanager
def executor_for(executor: str) -> Iterator[None]:
    """Within the block, work started without an executor of its own (a run a finished build
    starts for its held runs, say) goes to `executor`. A management command uses it so what it
    starts is not left on a daemon thread of a process about to exit. Threads started inside
    begin with a fresh context, so they fall back to RUN_EXECUTOR."""
    token = _executor.set(executor)
    try:
        yield
    finally:
        _executor.reset(token)


def _thread_main(execute: Callable[[int], object], job_id: int, label: str) -> None:
    close_old_connections()
    try:
        execute(job_id)
    except Exception:  # recorded on the job's row by `execute`
        logger.warning("%s %s stopped with an error", label, job_id, exc_info=True)
    finally:
        connections.close_all()


def background_dispatch(
    *,
    task,
    execute: Callable[[int], object],
    job_id: int,
    label: str,
    on_broker_down: Callable[[int], None],
    executor: str | None = None,
) -> None:
    """Run `execute(job_id)` where runs run: `task.delay(job_id)` on Celery (a task that calls
    `execute`), a daemon thread, or inline. When the broker cannot be reached the job's row is told
    through `on_broker_down(job_id)` instead of the request failing."""
    executor = executor or executor_default()
    if executor == "celery":
        try:
            task.delay(job_id)
        except Exception as exc:
            logger.error("%s %s could not be queued: %s", label, job_id, exc)
            on_broker_down(job_id)
    elif executor == "thread":
        threading.Thread(
            target=_thread_main,
            args=(execute, job_id, label),
            name=f"{label.lower().replace(' ', '-')}-{job_id}",
            daemon=True,
        ).start()
    elif executor == "inline":
        execute(job_id)
    else:
        raise ValueError(f"RUN_EXECUTOR must be celery, thread or inline, not {executor!r}")
