"""Running a stored area-level validation design (the worker's side of `designs.py`)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from config.errors import DomainError
from validation.area import leave_areas_out, official_results, subsample_design
from validation.holdout import holdout_report
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

    if run.design == ValidationRun.Design.HOLDOUT:
        return _execute_holdout(run)
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


def _execute_holdout(run: ValidationRun) -> ValidationRun:
    """A queued held-out run (a target's): split, predict, score, store."""
    min_cell = run.min_cell or settings.POLL_CELL_MIN_RESPONDENTS
    try:
        report = holdout_report(
            question=run.question,
            holdout_fraction=run.holdout_fraction or 0.2,
            seed=run.seed,
            min_cell=min_cell,
            min_group=run.params.get("min_group", 30),
        )
    except (DomainError, ValueError) as error:
        run.status, run.error_message = ValidationRun.Status.FAILED, str(error)
    else:
        run.status, run.metrics = ValidationRun.Status.COMPLETED, report.metrics
        run.n_train, run.n_test, run.min_cell = report.n_train, report.n_test, min_cell
    run.progress = {"done": 1, "total": 1}
    run.save(
        update_fields=["status", "error_message", "metrics", "progress", "n_train", "n_test",
                       "min_cell"]
    )  # fmt: skip
    return run
