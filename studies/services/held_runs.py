"""Runs held for a population still being built (the study form, above POPULATION_INLINE_MAX):
checked when held, started through `run_start` once the build completes, failed with it.

The build calls `held_runs_start` / `held_runs_fail` (personas.services) after it marks the
population ready or failed. Starting claims each held run under a row lock and only while it is
still held, so a build completion delivered twice (or a user's "start now" at the same moment)
starts it once.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.services import audit_record
from config.errors import ConflictError, DomainError
from config.throttles import daily_quota_check
from personas.models import Population
from studies.models import HeldRun, Study
from studies.services.runs import run_request_check, run_start

logger = logging.getLogger(__name__)

INTERNAL_ERROR = (
    "the server stopped on an internal error while starting it; start the study again from its page"
)


def held_run_create(
    *,
    study: Study,
    population: Population,
    backend: str,
    backend_config: dict,
    budget: Decimal | None,
    created_by,
) -> HeldRun:
    """Hold a run for `population` until its build completes. What can be checked without its
    personas is checked now (the backend, the study, the config, the budget), so an objection
    reaches the user while they are still on the form; over-budget and quotas are checked at the
    start, against the built personas."""
    run_request_check(study=study, backend=backend, backend_config=backend_config)
    if budget is not None and budget <= 0:
        raise DomainError(
            f"budget must be a positive amount; got {budget}.", fields={"budget": ["must be > 0"]}
        )
    return HeldRun.objects.create(
        study=study,
        population=population,
        backend=backend,
        backend_config=backend_config,
        budget=budget,
        created_by=created_by,
    )


def held_runs_start(*, population_id: int) -> list[HeldRun]:
    """Start every run held for a population that is now ready, each on its own: one refused
    (over budget, quota) or broken is marked failed with its message and the others still
    start. Runs already started or failed are left alone. The held runs this call settled."""
    settled = []
    ids = HeldRun.objects.filter(
        population_id=population_id, status=HeldRun.Status.HELD
    ).values_list("id", flat=True)
    for held_run_id in list(ids.order_by("id")):
        held = held_run_start(held_run_id=held_run_id)
        if held is not None:
            settled.append(held)
    return settled


def held_run_start(*, held_run_id: int, actor=None) -> HeldRun | None:
    """Start one held run if it is still held: started (with its run) or failed (with why).
    None when another call settled it first. `actor`: the user who asked (none: the build)."""
    try:
        with transaction.atomic():
            held = (
                HeldRun.objects.select_for_update()
                .select_related("study", "population", "created_by")
                .filter(id=held_run_id, status=HeldRun.Status.HELD)
                .first()
            )
            if held is None:
                return None
            try:
                with transaction.atomic():  # a refusal rolls back only what run_start wrote
                    daily_quota_check(user=held.created_by, personas=0, runs=1)
                    run = run_start(
                        study=held.study,
                        population=held.population,
                        backend=held.backend,
                        backend_config=held.backend_config,
                        budget=held.budget,
                        created_by=held.created_by,
                    )
                    audit_record(
                        actor=actor,
                        action=AuditEvent.Action.START,
                        obj=run,
                        via="page" if actor else "system",
                        detail={"backend": run.backend, "held_run": held.id},
                    )
            except DomainError as exc:
                held.status, held.error_message = HeldRun.Status.FAILED, exc.message
            else:
                held.status, held.run = HeldRun.Status.STARTED, run
            held.settled_at = timezone.now()
            held.save(update_fields=["status", "run", "error_message", "settled_at"])
            return held
    except Exception:
        # Not the build's failure, nor another held run's: this one is marked failed and the
        # details go to the log.
        logger.exception("Held run %s could not be started", held_run_id)
        HeldRun.objects.filter(id=held_run_id, status=HeldRun.Status.HELD).update(
            status=HeldRun.Status.FAILED, error_message=INTERNAL_ERROR, settled_at=timezone.now()
        )
        return HeldRun.objects.filter(id=held_run_id).first()  # None if cancelled meanwhile


def held_runs_fail(*, population_id: int, message: str) -> int:
    """The population failed to build: its held runs fail with a message saying so. How many."""
    return HeldRun.objects.filter(population_id=population_id, status=HeldRun.Status.HELD).update(
        status=HeldRun.Status.FAILED,
        error_message=f"The population failed to build ({message}), so the run was not started. "
        "Start the study again with a new population.",
        settled_at=timezone.now(),
    )


def held_run_cancel(*, held_run: HeldRun, actor, request=None) -> None:
    """Drop a run that is still waiting for its population; one already started or failed is
    refused (a started run is cancelled from its own page)."""
    with transaction.atomic():
        deleted, _ = HeldRun.objects.filter(id=held_run.id, status=HeldRun.Status.HELD).delete()
        if not deleted:
            status = HeldRun.objects.filter(id=held_run.id).values_list("status", flat=True).first()
            raise ConflictError(
                "The held run was already cancelled."
                if status is None
                else f"The held run has already {status} and can no longer be cancelled here"
                + (" (cancel the run from its page)." if status == HeldRun.Status.STARTED else "."),
                code="held_run_settled",
            )
        audit_record(
            actor=actor,
            action=AuditEvent.Action.CANCEL,
            obj=held_run,
            via="page",
            request=request,
            detail={"study": held_run.study_id, "population": held_run.population_id},
        )
