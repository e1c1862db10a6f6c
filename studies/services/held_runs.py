"""Runs held for a population still being built (the study form above POPULATION_INLINE_MAX, or
an API client's POST /api/v1/held-runs/): checked when held, started through `run_start` once the
build completes, failed with it; a failed one can be retried.

The build calls `held_runs_start` / `held_runs_fail` (personas.build) after it marks the
population ready or failed, and the population watchdog calls `held_runs_start_stale` for runs
a stopped process left waiting on a ready population. Starting claims each held run under a row
lock and only while it is still held, so a build completion delivered twice (or a user's "start
now", or the watchdog, at the same moment) starts it once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.services import audit_record
from config.errors import ConflictError, DomainError
from config.throttles import daily_quota_check
from personas.models import Population
from personas.services import population_usable_check
from studies.models import HeldRun, Run, Study
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
    seed: int | None = None,
    chunk_size: int | None = None,
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
        seed=seed,
        chunk_size=chunk_size,
        created_by=created_by,
    )


def held_run_hold(
    *,
    study: Study,
    population: Population,
    backend: str,
    backend_config: dict,
    budget: Decimal | None,
    seed: int | None,
    chunk_size: int | None,
    created_by,
    request=None,
) -> HeldRun:
    """Hold a run asked for through the API until `population` is built; on a population that
    is already ready it starts at once (a refusal is raised and nothing is stored); on a failed
    one it is refused (409)."""
    with transaction.atomic():
        # Under the population's row lock: a build marking it ready waits for this commit, so
        # its start of the held runs sees this one, or this sees it ready and starts it now.
        population = Population.objects.select_for_update().get(pk=population.pk)
        if population.status == Population.Status.FAILED:
            population_usable_check(population=population)
        ready = population.status == Population.Status.READY
        if not ready:  # a run held now counts once it starts; on a ready one, `_launch` checks
            daily_quota_check(user=created_by, runs=1)
        held = held_run_create(
            study=study,
            population=population,
            backend=backend,
            backend_config=backend_config,
            budget=budget,
            seed=seed,
            chunk_size=chunk_size,
            created_by=created_by,
        )
        audit_record(
            actor=created_by,
            action=AuditEvent.Action.CREATE,
            obj=held,
            request=request,
            detail={"study": study.pk, "population": population.pk, "backend": backend},
        )
        if ready:
            run = _launch(held, actor=created_by, via="api", request=request)
            held.status, held.run, held.settled_at = HeldRun.Status.STARTED, run, timezone.now()
            held.save(update_fields=["status", "run", "settled_at"])
    return held


def _launch(held: HeldRun, *, actor, via: str, request=None) -> Run:
    """The run of a held run, through the checks any run passes (daily quota, the population,
    the study's quotas, budget, backend); a refusal is raised."""
    daily_quota_check(user=held.created_by, personas=0, runs=1)
    run = run_start(
        study=held.study,
        population=held.population,
        backend=held.backend,
        backend_config=held.backend_config,
        budget=held.budget,
        seed=held.seed,
        chunk_size=held.chunk_size,
        created_by=held.created_by,
    )
    audit_record(
        actor=actor,
        action=AuditEvent.Action.START,
        obj=run,
        via=via,
        request=request,
        detail={"backend": run.backend, "held_run": held.id},
    )
    return run


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


def held_run_start(
    *, held_run_id: int, actor=None, via: str | None = None, request=None
) -> HeldRun | None:
    """Start one held run if it is still held: started (with its run) or failed (with why).
    None when another call settled it first. `actor`: the user who asked (none: the build)."""
    return _held_run_settle(held_run_id=held_run_id, actor=actor, via=via, request=request)[0]


def _held_run_settle(
    *, held_run_id: int, actor, via: str | None, request
) -> tuple[HeldRun | None, DomainError | None]:
    """`held_run_start`, and the refusal that failed it (None if it started or was not held)."""
    via = via or ("page" if actor else "system")
    try:
        with transaction.atomic():
            held = (
                HeldRun.objects.select_for_update()
                .select_related("study", "population", "created_by")
                .filter(id=held_run_id, status=HeldRun.Status.HELD)
                .first()
            )
            if held is None:
                return None, None
            refusal = None
            try:
                with transaction.atomic():  # a refusal rolls back only what run_start wrote
                    run = _launch(held, actor=actor, via=via, request=request)
            except DomainError as exc:
                refusal = exc
                held.status, held.error_message = HeldRun.Status.FAILED, exc.message
            else:
                held.status, held.run = HeldRun.Status.STARTED, run
            held.settled_at = timezone.now()
            held.save(update_fields=["status", "run", "error_message", "settled_at"])
            return held, refusal
    except Exception:
        # Not the build's failure, nor another held run's: this one is marked failed and the
        # details go to the log.
        logger.exception("Held run %s could not be started", held_run_id)
        HeldRun.objects.filter(id=held_run_id, status=HeldRun.Status.HELD).update(
            status=HeldRun.Status.FAILED, error_message=INTERNAL_ERROR, settled_at=timezone.now()
        )
        # None if cancelled meanwhile
        return HeldRun.objects.filter(id=held_run_id).first(), None


def held_runs_fail(*, population_id: int, message: str) -> int:
    """The population failed to build: its held runs fail with a message saying so. How many."""
    return HeldRun.objects.filter(population_id=population_id, status=HeldRun.Status.HELD).update(
        status=HeldRun.Status.FAILED,
        error_message=f"The population failed to build ({message}), so the run was not started. "
        "Start the study again with a new population.",
        settled_at=timezone.now(),
    )


def held_run_cancel(*, held_run: HeldRun, actor, via: str = "page", request=None) -> None:
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
            via=via,
            request=request,
            detail={"study": held_run.study_id, "population": held_run.population_id},
        )


def held_run_start_now(*, held_run: HeldRun, actor, via: str = "api", request=None) -> HeldRun:
    """Start a held run at a user's request, without waiting for the build's own start: refused
    (409) while its population is not ready, or once the run failed (retry it instead); a start
    refused there (quota, budget) fails the held run with its message and is raised. One already
    started is answered as it is, so asking twice starts one run."""
    if held_run.status == HeldRun.Status.FAILED:
        raise ConflictError(
            f"Held run {held_run.pk} did not start: {held_run.error_message} Retry it "
            f"(POST /api/v1/held-runs/{held_run.pk}/retry/) or start the study again.",
            code="held_run_failed",
        )
    if held_run.status == HeldRun.Status.HELD:
        population_usable_check(population=held_run.population)
    held, refusal = _held_run_settle(held_run_id=held_run.pk, actor=actor, via=via, request=request)
    if refusal is not None:
        raise refusal
    if held is None:  # settled by the build or another request first, or cancelled meanwhile
        held = HeldRun.objects.filter(pk=held_run.pk).first()
        if held is None:
            raise ConflictError(
                f"Held run {held_run.pk} was cancelled meanwhile.", code="held_run_settled"
            )
    return held


def held_run_retry(*, held_run: HeldRun, actor, via: str = "api", request=None) -> HeldRun:
    """Give a failed held run another go: on a ready population it starts now through the same
    checks as at the build's end (a refusal fails it again with its message and is raised); on
    one still being built it is held again; on a failed one it is refused (409): only a new
    population can be built."""
    refusal = None
    with transaction.atomic():
        held = (
            HeldRun.objects.select_for_update()
            .select_related("population")
            .filter(pk=held_run.pk)
            .first()
        )
        if held is None:
            raise ConflictError(
                f"Held run {held_run.pk} was deleted meanwhile.", code="held_run_settled"
            )
        if held.status != HeldRun.Status.FAILED:
            raise ConflictError(
                f"Held run {held.pk} has not failed (it is {held.get_status_display().lower()}): "
                "only a failed held run is retried.",
                code="held_run_not_failed",
            )
        population = Population.objects.select_for_update().get(pk=held.population_id)
        if population.status == Population.Status.FAILED:
            raise ConflictError(
                f"Population {population.pk} failed to build ({population.error_message}), so "
                "the run cannot start on it. Create a new population and start the study on it.",
                code="population_failed",
                fields={"population": ["status failed"]},
            )
        previous = held.error_message
        held.status, held.error_message, held.settled_at = HeldRun.Status.HELD, "", None
        held.save(update_fields=["status", "error_message", "settled_at"])
        if population.status == Population.Status.READY:
            settled, refusal = _held_run_settle(
                held_run_id=held.pk, actor=actor, via=via, request=request
            )
            held = settled or held
        audit_record(
            actor=actor,
            action=AuditEvent.Action.RETRY,
            obj=held,
            via=via,
            request=request,
            detail={"outcome": held.status, "run": held.run_id, "previous_error": previous},
        )
    if refusal is not None:
        raise refusal
    return held


def held_runs_start_stale(
    *, now=None, grace: timedelta | None = None, population_ids: list[int] | None = None
) -> list[int]:
    """The population watchdog's part for held runs (and `manage.py resume_populations`'s, where
    no beat runs): start those still held on a population ready for longer than `grace`
    (HELD_RUN_START_GRACE_SECONDS), which a process stopped between marking it ready and starting
    them left waiting; only on `population_ids` when given. The held runs it settled."""
    now = now or timezone.now()
    if grace is None:
        grace = timedelta(seconds=settings.HELD_RUN_START_GRACE_SECONDS)
    candidates = HeldRun.objects.filter(
        status=HeldRun.Status.HELD, population__status=Population.Status.READY
    )
    if population_ids is not None:
        candidates = candidates.filter(population_id__in=population_ids)
    waiting = (
        candidates.annotate(
            ready_since=Coalesce("population__finished_at", "population__created_at")
        )
        .filter(ready_since__lt=now - grace)
        .order_by("id")
        .values_list("id", "population_id", "ready_since")
    )
    settled = []
    for held_run_id, population_id, ready_since in list(waiting):
        logger.warning(
            "Held run %s was still waiting on population %s, ready since %s: starting it",
            held_run_id,
            population_id,
            ready_since,
        )
        held = held_run_start(held_run_id=held_run_id)
        if held is not None:
            settled.append(held.pk)
    return settled
