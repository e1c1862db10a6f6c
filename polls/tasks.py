"""Celery tasks of polls: importing an uploaded file off the request, and expiring abandoned
uploads (beat)."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, connections

from polls.uploads import poll_uploads_expire

logger = logging.getLogger(__name__)


@shared_task
def poll_uploads_expire_task() -> list[str]:
    return poll_uploads_expire()


@shared_task(acks_late=True)
def poll_import_task(import_id: int) -> str:
    from polls.services import poll_import_execute

    return poll_import_execute(import_id=import_id).status


def _thread_main(import_id: int) -> None:
    from polls.services import poll_import_execute

    close_old_connections()
    try:
        poll_import_execute(import_id=import_id)
    except Exception:  # recorded on the PollImport row
        logger.warning("Poll import %s stopped with an error", import_id, exc_info=True)
    finally:
        connections.close_all()


def poll_import_dispatch(*, import_id: int, executor: str | None = None) -> None:
    """Run the import where runs run (RUN_EXECUTOR, see studies.dispatch): a Celery worker, a
    background thread of this process (embedded), or in the calling thread (tests)."""
    from polls.services import poll_import_execute

    executor = executor or settings.RUN_EXECUTOR
    if executor == "celery":
        try:
            poll_import_task.delay(import_id)
        except Exception as exc:  # the broker is down: the row says so, the upload waits
            from polls.models import PollImport

            logger.error("Poll import %s could not be queued: %s", import_id, exc)
            PollImport.objects.filter(id=import_id).update(
                stage="could not reach the task queue; confirm the upload again shortly"
            )
    elif executor == "thread":
        threading.Thread(
            target=_thread_main, args=(import_id,), name=f"poll-import-{import_id}", daemon=True
        ).start()
    elif executor == "inline":
        poll_import_execute(import_id=import_id)
    else:
        raise ValueError(f"RUN_EXECUTOR must be celery, thread or inline, not {executor!r}")
