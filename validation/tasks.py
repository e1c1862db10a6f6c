from __future__ import annotations

from celery import shared_task

from validation.execute import validation_run_execute


@shared_task(acks_late=True)
def validation_run_execute_task(run_id: int) -> None:
    """Run a stored area-level validation design (ids in, the service does the work)."""
    validation_run_execute(run_id=run_id)
