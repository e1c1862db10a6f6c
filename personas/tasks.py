"""Celery tasks of personas: building a large population off the request."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def population_build_task(population_id: int) -> str:
    # acks_late: a build lost with its worker is delivered again; population_build replaces any
    # partial personas, so a re-run never duplicates them.
    from personas.services import population_build_execute

    return population_build_execute(population_id=population_id).status


def _thread_main(population_id: int) -> None:
    from personas.services import population_build_execute

    close_old_connections()
    try:
        population_build_execute(population_id=population_id)
    except Exception:  # recorded on the Population row
        logger.warning("Population %s build stopped with an error", population_id, exc_info=True)
    finally:
        connections.close_all()


def population_build_dispatch(*, population_id: int, executor: str | None = None) -> None:
    """Build the population where runs run (RUN_EXECUTOR, as polls.tasks.poll_import_dispatch):
    a Celery worker, a background thread of this process (embedded), or the calling thread."""
    from personas.services import population_build_execute

    executor = executor or settings.RUN_EXECUTOR
    if executor == "celery":
        try:
            population_build_task.delay(population_id)
        except Exception as exc:  # the broker is down: the row says so
            from personas.models import Population

            logger.error("Population %s could not be queued: %s", population_id, exc)
            Population.objects.filter(id=population_id).update(
                status=Population.Status.FAILED,
                error_message="the task queue could not be reached; create the population again "
                "shortly",
            )
    elif executor == "thread":
        threading.Thread(
            target=_thread_main,
            args=(population_id,),
            name=f"population-build-{population_id}",
            daemon=True,
        ).start()
    elif executor == "inline":
        population_build_execute(population_id=population_id)
    else:
        raise ValueError(f"RUN_EXECUTOR must be celery, thread or inline, not {executor!r}")
