"""Celery tasks of personas: building a large population off the request."""

from __future__ import annotations

from celery import shared_task

from config.background import background_dispatch


def _execute(population_id: int):
    from personas.build import population_build_execute

    return population_build_execute(population_id=population_id)


@shared_task(acks_late=True)
def population_build_task(population_id: int) -> str:
    # acks_late: a build lost with its worker is delivered again (and the watchdog below hands a
    # silent one on); population_build continues after the last committed batch and a newer
    # attempt stops an older one, so a re-run never duplicates personas.
    return _execute(population_id).status


@shared_task
def populations_watchdog_task() -> dict[str, list[int]]:
    """Celery beat, every POPULATION_WATCHDOG_SECONDS: take up builds whose worker died, and
    start the runs held on a ready population that the process which finished it did not start
    (HELD_RUN_START_GRACE_SECONDS after it was ready)."""
    from personas.build import populations_resume_stale
    from studies.services.held_runs import held_runs_start_stale  # studies builds on personas

    return {
        "populations_resumed": populations_resume_stale(),
        "held_runs_settled": held_runs_start_stale(),
    }


def _broker_down(population_id: int) -> None:
    from personas.build import population_fail

    # Through population_fail, so the runs held for the population fail with it.
    population_fail(
        population_id=population_id,
        message="the task queue could not be reached; create the population again shortly",
    )


def population_build_dispatch(*, population_id: int, executor: str | None = None) -> None:
    """Build the population where runs run (config.background): a Celery worker, a background
    thread of this process (embedded), or the calling thread."""
    background_dispatch(
        task=population_build_task,
        execute=_execute,
        job_id=population_id,
        label="Population build",
        on_broker_down=_broker_down,
        executor=executor,
    )
