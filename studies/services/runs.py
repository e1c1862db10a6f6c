"""Writes for runs a user asks for: starting one (with its estimate), resuming and cancelling it.

What happens once a run is handed to the executor (its chunks, finishing, failing) is in
`studies.pipeline`.
"""

from __future__ import annotations

import math
import secrets
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import ConflictError, DomainError
from personas.engine.estimate import estimates_add
from personas.models import Population
from personas.services import population_usable_check
from studies.backends.base import RespondentBackend
from studies.backends.registry import BACKENDS
from studies.dispatch import run_dispatch
from studies.models import Run, RunParticipant, Study
from studies.progress import Reporter
from studies.selection import needs_selection, participants_select
from studies.services.studies import study_foreign_poll_problems


def run_start(
    *,
    study: Study,
    population: Population,
    backend: str = "poll_model",
    backend_config: dict | None = None,
    budget: Decimal | None = None,
    seed: int | None = None,
    chunk_size: int | None = None,
    created_by=None,
    executor: str | None = None,
    estimate_extra: dict | None = None,
) -> Run:
    """Create a queued run and, once committed, hand its chunks to the executor.

    A backend that costs money estimates the run first; with a `budget`, a run whose estimate
    exceeds it (or cannot be priced) is refused. `estimate_extra` is what the run will spend after
    its personas are answered (a multi-agent run's deliberation rounds, in the same `run_cost`
    shape), added before the budget is checked. `executor` overrides settings.RUN_EXECUTOR.
    """
    population_usable_check(population=population)
    backend_config = backend_config or {}
    backend_cls = run_request_check(study=study, backend=backend, backend_config=backend_config)
    chunk_size = (
        chunk_size or backend_cls.default_chunk_size(backend_config) or settings.RUN_CHUNK_SIZE
    )
    if chunk_size < 1:
        raise DomainError("chunk_size must be at least 1.", fields={"chunk_size": ["must be >= 1"]})
    # The server bounds how many chunk tasks one run queues (a chunk_size of 1 on 20,000 personas
    # queued 19,766 tasks and starved other users' runs): a smaller chunk_size is raised.
    chunk_size = max(chunk_size, math.ceil(population.size / settings.RUN_MAX_CHUNKS))
    if budget is not None and budget <= 0:
        raise DomainError(
            f"budget must be a positive amount; got {budget}.", fields={"budget": ["must be > 0"]}
        )
    if seed is None:
        seed = secrets.randbits(63)
    # Criteria, quotas and conditions select and assign the participants before anything is
    # stored: a population that cannot satisfy them is refused with nothing written.
    selection = (
        participants_select(study=study, population=population, seed=seed)
        if needs_selection(study)
        else None
    )
    estimate = _estimate(
        study=study,
        population=population,
        backend=backend,
        backend_config=backend_config,
        participants=[p for p, _ in selection.participants] if selection else None,
    )
    if estimate is not None and estimate_extra is not None:
        estimate = estimates_add(estimate, estimate_extra)
    if budget is not None and estimate is not None:
        if estimate["amount"] is None:
            raise DomainError(
                f"A budget of {budget} cannot be enforced: the model has no price. Add one in the "
                "admin (LLM › Model prices) or start the run without a budget.",
                code="price_unknown",
                fields={"budget": ["the model has no price to check it against"]},
            )
        if Decimal(estimate["amount"]) > budget:
            raise DomainError(
                f"The run is estimated at {estimate['amount']} {estimate['currency']}, above the "
                f"budget of {budget}: raise the budget, use a smaller population or a cheaper "
                "model.",
                code="over_budget",
                fields={"budget": [f"estimate {estimate['amount']} exceeds it"]},
            )
    with transaction.atomic():
        run = Run.objects.create(
            study=study,
            population=population,
            backend=backend,
            backend_config=backend_config,
            budget=budget,
            cost_estimate=estimate,
            seed=seed,
            personas_total=(
                len(selection.participants) if selection else population.personas.count()
            ),
            has_participants=selection is not None,
            selection=selection.summary if selection else {},
            chunk_size=chunk_size,
            created_by=created_by,
        )
        if selection is not None:
            RunParticipant.objects.bulk_create(
                (
                    RunParticipant(run=run, persona_id=persona_id, position=i, condition=code)
                    for i, (persona_id, code) in enumerate(selection.participants)
                ),
                batch_size=5000,
            )
        transaction.on_commit(lambda: run_dispatch(run_id=run.id, executor=executor))
    return run


def run_request_check(
    *, study: Study, backend: str, backend_config: dict
) -> type[RespondentBackend]:
    """Refuse what a run's request gets wrong whatever its population: an unknown backend, a
    study the backend cannot answer (or grounded in a foreign poll), a config it cannot use (an
    LLM config whose key is missing). The backend's class when all is well."""
    backend_cls = _backend_class(backend)
    problems = study_foreign_poll_problems(study) + backend_cls.study_problems(study)
    if problems:
        raise DomainError(
            "The backend refuses this study: " + " ".join(problems),
            code="backend_refused",
            fields={"study": problems},
        )
    _config_check(backend_cls, backend_config)
    return backend_cls


def _config_check(backend_cls: type[RespondentBackend], backend_config: dict) -> None:
    problem = backend_cls.config_problems(backend_config)
    if problem is not None:
        raise DomainError(str(problem), code="invalid_backend_config", fields=problem.fields)


def _backend_class(backend: str) -> type[RespondentBackend]:
    try:
        return BACKENDS[backend]
    except KeyError:
        raise DomainError(
            f"Unknown backend '{backend}'; available: {', '.join(sorted(BACKENDS))}.",
            code="unknown_backend",
            fields={"backend": ["unknown backend"]},
        ) from None


def run_estimate(
    *, study: Study, population: Population, backend: str, backend_config: dict | None
) -> dict | None:
    """What a run would cost before it starts; None for a backend that costs nothing. A study
    that selects its participants is estimated over those a run would select (the count is the
    run's; with quotas, which personas fill them depends on the run's seed)."""
    population_usable_check(population=population)
    selection = (
        participants_select(study=study, population=population, seed=0)
        if needs_selection(study)
        else None
    )
    _config_check(_backend_class(backend), backend_config or {})
    return _estimate(
        study=study,
        population=population,
        backend=backend,
        backend_config=backend_config,
        participants=[p for p, _ in selection.participants] if selection else None,
    )


def _estimate(
    *,
    study: Study,
    population: Population,
    backend: str,
    backend_config: dict | None,
    participants: list[int] | None,
) -> dict | None:
    """The backend's estimate; its config is checked by the caller."""
    backend_cls = _backend_class(backend)
    backend_config = backend_config or {}
    return backend_cls.estimate(
        study=study, population=population, config=backend_config, participants=participants
    )


def run_resume(*, run: Run, executor: str | None = None) -> Run:
    """Hand an unfinished run to the executor again; chunks skip the personas already answered.

    For runs whose worker or web process died (e.g. the embedded default's server was stopped).
    """
    if run.is_finished:
        raise ConflictError(
            f"Run {run.id} is already {run.status}; only queued or running runs can be resumed.",
            code="run_finished",
        )
    transaction.on_commit(lambda: run_dispatch(run_id=run.id, executor=executor))
    return run


def run_cancel(*, run: Run, reporter: Reporter) -> Run:
    """Stop a queued or running run; answers already stored are kept."""
    updated = Run.objects.filter(
        id=run.id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(status=Run.Status.CANCELLED, finished_at=timezone.now())
    run.refresh_from_db()
    if not updated:
        raise ConflictError(
            f"Run {run.id} is already {run.status} and cannot be cancelled.", code="run_finished"
        )
    reporter.completion(status=run.status, done=run.personas_done, total=run.personas_total)
    return run
