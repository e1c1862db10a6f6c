"""Area-level validation runs: stored, run on Celery (inline on the embedded default), with
progress, like a study run."""

from __future__ import annotations

from django.db import transaction

from config.errors import DomainError
from validation.execute import DESIGNS
from validation.models import ValidationRun
from validation.tasks import validation_run_execute_task
from validation.versions import versions_of

# The parameters each design takes from a request, with their types.
PARAMS: dict[str, dict[str, type]] = {
    ValidationRun.Design.SUBSAMPLE: {
        "size": int,
        "seeds": int,
        "min_state_respondents": int,
        "area_predictors": bool,
    },
    ValidationRun.Design.LEAVE_AREAS_OUT: {
        "held_out": int,
        "seeds": int,
        "min_state_respondents": int,
    },
    ValidationRun.Design.OFFICIAL_RESULTS: {
        "option_code": str,
        "party": str,
        "election_year": int,
        "two_party": bool,
        "min_state_respondents": int,
    },
}
REQUIRED = {ValidationRun.Design.OFFICIAL_RESULTS: ("option_code", "party", "election_year")}


def _checked(design: str, params: dict) -> dict:
    allowed = PARAMS[ValidationRun.Design(design)]
    unknown = sorted(set(params) - set(allowed))
    problems = [
        f"unknown parameter '{k}' (this design takes {', '.join(allowed)})" for k in unknown
    ]
    for key in REQUIRED.get(ValidationRun.Design(design), ()):
        if key not in params:
            problems.append(f"'{key}' is required")
    for key, kind in allowed.items():
        if key in params and not isinstance(params[key], kind):
            problems.append(f"'{key}' must be {kind.__name__}")
    if "seeds" in params and isinstance(params["seeds"], int) and not 1 <= params["seeds"] <= 20:
        problems.append("'seeds' must be from 1 to 20")
    for key in ("size", "held_out", "min_state_respondents"):
        value = params.get(key)
        if isinstance(value, int) and value < 1:
            problems.append(f"'{key}' must be at least 1")
    if problems:
        raise DomainError(
            f"Design '{design}': " + "; ".join(problems) + ".",
            code="invalid_validation_params",
            fields={"params": problems},
        )
    return params


def validation_run_design(
    *, question, design: str, params: dict, seed: int = 0, created_by=None, dispatch: bool = True
) -> ValidationRun:
    """Store a queued area-level validation run and hand it to a worker after commit (unless
    `dispatch` is off: the caller then runs it with `validation_run_execute`)."""
    if design not in DESIGNS:
        raise DomainError(
            f"Unknown design '{design}'; choose one of {', '.join(DESIGNS)}.",
            code="unknown_validation_design",
            fields={"design": ["unknown"]},
        )
    run = ValidationRun.objects.create(
        question=question,
        design=design,
        status=ValidationRun.Status.QUEUED,
        method="poll_model",
        params=_checked(design, params),
        seed=seed,
        created_by=created_by,
        **versions_of(question),
    )
    if dispatch:
        transaction.on_commit(lambda: validation_run_execute_task.delay(run.id))
    return run
