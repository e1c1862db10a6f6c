"""Running a stored area-level validation design (the worker's side of `designs.py`)."""

from __future__ import annotations

from collections.abc import Callable

from validation.area import leave_areas_out, official_results, subsample_design
from validation.models import ValidationRun

DESIGNS: dict[str, Callable[..., dict]] = {
    ValidationRun.Design.SUBSAMPLE: subsample_design,
    ValidationRun.Design.LEAVE_AREAS_OUT: leave_areas_out,
    ValidationRun.Design.OFFICIAL_RESULTS: official_results,
}


def validation_run_execute(*, run_id: int) -> ValidationRun:
    """Run a stored design (idempotent: a finished run is left as it is)."""
    run = ValidationRun.objects.select_related("question__poll").get(id=run_id)
    if run.status in (ValidationRun.Status.COMPLETED, ValidationRun.Status.FAILED):
        return run
    ValidationRun.objects.filter(id=run.id).update(status=ValidationRun.Status.RUNNING)

    steps = {"total": 1}

    def progress(done: int, total: int) -> None:
        steps["total"] = total
        ValidationRun.objects.filter(id=run.id).update(progress={"done": done, "total": total})

    params = dict(run.params)
    if "seeds" in params:
        params["seeds"] = range(run.seed, run.seed + params["seeds"])
    elif run.design != ValidationRun.Design.OFFICIAL_RESULTS:
        params["seeds"] = range(run.seed, run.seed + 5)
    try:
        metrics = DESIGNS[ValidationRun.Design(run.design)](
            run.question, progress=progress, **params
        )
    except ValueError as error:
        run.status, run.error_message = ValidationRun.Status.FAILED, str(error)
    else:
        run.status, run.metrics = ValidationRun.Status.COMPLETED, metrics
        # The steps reported went to the row, not to this instance: finish from what was seen.
        run.progress = {"done": steps["total"], "total": steps["total"]}
    run.save(update_fields=["status", "error_message", "metrics", "progress"])
    return run
