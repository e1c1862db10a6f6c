from __future__ import annotations

from celery import shared_task

from validation.execute import validation_run_execute
from validation.targets import validation_targets_revalidate


@shared_task(acks_late=True)
def validation_run_execute_task(run_id: int) -> None:
    """Run a stored area-level validation design (ids in, the service does the work)."""
    validation_run_execute(run_id=run_id)


@shared_task(acks_late=True)
def validation_targets_revalidate_task() -> list[int]:
    """Beat: queue a held-out run of every target whose model, data or code version changed since
    its latest run (idempotent: a second call queues nothing until something changes)."""
    return [run.id for run in validation_targets_revalidate()]
