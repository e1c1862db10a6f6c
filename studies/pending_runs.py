"""A run the study form holds for a new population that is built off the request (larger than
POPULATION_INLINE_MAX): kept in the browser's session with the population's id, shown on the
population page while it builds and offered there once it is ready (studies.views)."""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

SESSION_KEY = "pending_runs"


class PendingRun(TypedDict):
    study: int
    backend: str
    backend_config: dict
    budget: str | None  # a Decimal as text: the session is JSON


def pending_run_hold(
    session,
    *,
    population_id: int,
    study_id: int,
    backend: str,
    backend_config: dict,
    budget: Decimal | None,
) -> None:
    """Remember the run to start on `population_id` once it is built."""
    held = dict(session.get(SESSION_KEY, {}))
    held[str(population_id)] = PendingRun(
        study=study_id,
        backend=backend,
        backend_config=backend_config,
        budget=None if budget is None else str(budget),
    )
    session[SESSION_KEY] = held


def pending_run_get(session, *, population_id: int) -> PendingRun | None:
    return session.get(SESSION_KEY, {}).get(str(population_id))


def pending_run_drop(session, *, population_id: int) -> None:
    held = dict(session.get(SESSION_KEY, {}))
    if held.pop(str(population_id), None) is not None:
        session[SESSION_KEY] = held
