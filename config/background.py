"""Work started by a request and done off it (a poll import, a large population build), handed to
the executor runs use (RUN_EXECUTOR, see studies.dispatch): a Celery worker, a background thread of
this process (embedded default), or the calling thread (tests). The job's own row records its
progress and outcome, so a caller only needs its id."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


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
    executor = executor or settings.RUN_EXECUTOR
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
