"""Celery tasks of polls: importing an uploaded file off the request, and expiring abandoned
uploads (beat)."""

from __future__ import annotations

from celery import shared_task

from config.background import background_dispatch
from polls.uploads import poll_uploads_expire


@shared_task
def poll_uploads_expire_task() -> list[str]:
    return poll_uploads_expire()


def _execute(import_id: int):
    from polls.services import poll_import_execute

    return poll_import_execute(import_id=import_id)


@shared_task(acks_late=True)
def poll_import_task(import_id: int) -> str:
    return _execute(import_id).status


def _broker_down(import_id: int) -> None:
    from polls.models import PollImport

    # The upload waits on disk; confirming it again queues a new import.
    PollImport.objects.filter(id=import_id).update(
        stage="could not reach the task queue; confirm the upload again shortly"
    )


def poll_import_dispatch(*, import_id: int, executor: str | None = None) -> None:
    """Run the import where runs run (config.background): a Celery worker, a background thread of
    this process (embedded), or in the calling thread (tests)."""
    background_dispatch(
        task=poll_import_task,
        execute=_execute,
        job_id=import_id,
        label="Poll import",
        on_broker_down=_broker_down,
        executor=executor,
    )
