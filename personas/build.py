"""Building a population's personas off the request: drawn in memory from each area's fitted
joint table, then written in batches, each committed with the build's progress.

A build is claimed by an attempt; one taken up again (a re-delivered task, the watchdog's
`populations_resume_stale`) continues after the last committed batch, and a newer attempt ends
an older one at its next batch."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.errors import DomainError
from environment.models import Area
from environment.selectors import area_marginals
from personas import generation
from personas.generation import (
    AreaDraw,
    Drawn,
    ProfileSource,
    ProfileStream,
    draw,
    personas_insert,
    rng_state_load,
    validation_report,
)
from personas.joint import Constraints, area_joint, fit
from personas.models import Persona, Population

logger = logging.getLogger(__name__)


def _area_draw(*, area: Area, marginals: dict, constraints: Constraints, size: int) -> AreaDraw:
    joint = area_joint(
        state=area.state,
        state_name=area.state_name,
        marginals=marginals,
        constraints=constraints,
        area_id=area.pk,
    )
    fitted = fit(table=joint.table, targets=joint.targets, size=size, area_id=area.pk)
    details = {
        "seed_table": joint.source,
        "asian_share_of_seed_other": round(joint.asian_share_of_seed_other, 6),
        "seed_raked_to_full_marginals": joint.ipf_converged,
        "ipf_converged": fitted.ipf_converged,
        "ipf_iterations": fitted.ipf_iterations,
        "ipf_max_error": fitted.ipf_max_error,
        "integerised_exactly": fitted.integerised,
    }
    return AreaDraw(area_id=area.pk, counts=fitted.counts, targets=joint.targets, details=details)


class BuildSuperseded(Exception):
    """A newer attempt (a re-delivered task, the watchdog's) has taken the build over."""


@dataclass(frozen=True)
class _Plan:
    """A population's personas drawn in memory: what its batches write."""

    area_ids: list[str]
    area_states: list[str]
    draws: list[AreaDraw]
    drawn: Drawn
    rules: Constraints


def _population_plan(population: Population, *, attempt: int) -> _Plan:
    allocations = [a for a in population.areas.order_by("pk") if a.personas > 0]
    ids = [a.area_id for a in allocations]
    found = Area.objects.in_bulk(ids)
    marginals = area_marginals(area_ids=ids)
    rules = Constraints.from_spec(population.constraints)
    draws = []
    for position, allocation in enumerate(allocations, start=1):
        # Fitting an area's table is most of a build's time before its first batch (about 2 s
        # for 40,000 personas): say which, and show the build alive to the watchdog.
        Population.objects.filter(pk=population.pk, build_attempt=attempt).update(
            stage=f"fitting area {position} of {len(allocations)} ({allocation.area_id})",
            progress_at=timezone.now(),
        )
        draws.append(
            _area_draw(
                area=found[allocation.area_id],
                marginals=marginals[allocation.area_id],
                constraints=rules,
                size=allocation.personas,
            )
        )
    drawn = draw(areas=draws, constraints=rules, rng=np.random.default_rng(population.seed))
    return _Plan(
        area_ids=[d.area_id for d in draws],
        area_states=[found[d.area_id].state for d in draws],
        draws=draws,
        drawn=drawn,
        rules=rules,
    )


def _build_claim(population_id: int) -> tuple[Population, int] | None:
    """Take the build up as its newest attempt: keep the personas an earlier attempt committed
    when they can be continued exactly, else delete them. None when there is nothing to build."""
    with transaction.atomic():
        population = Population.objects.select_for_update().get(pk=population_id)
        if population.status not in (Population.Status.QUEUED, Population.Status.BUILDING):
            return None
        done = Persona.objects.filter(population=population).count()
        state = population.build_state or {}
        continuable = done == population.personas_done and (
            done == 0
            or not population.include_behavioral_characteristics
            or (
                "rng" in state
                and state.get("block_start", -1)
                <= done
                < state["block_start"] + generation.INSERT_BATCH
            )
        )
        if not continuable:
            Persona.objects.filter(population=population).delete()
            done, population.build_state = 0, {}
        now = timezone.now()
        population.build_attempt += 1
        population.status = Population.Status.BUILDING
        population.stage = "drawing personas from the census tables"
        population.personas_done = done
        population.started_at = population.started_at or now
        population.progress_at = now
        population.save(
            update_fields=[
                "build_attempt", "status", "stage", "personas_done", "started_at", "progress_at",
                "build_state",
            ]
        )  # fmt: skip
    return population, done


def _build_own(population_id: int, attempt: int) -> None:
    """Lock the population's row for this attempt's write; a newer attempt ends this one."""
    current = (
        Population.objects.select_for_update()
        .filter(pk=population_id)
        .values_list("build_attempt", "status")
        .first()
    )
    if current != (attempt, Population.Status.BUILDING):
        raise BuildSuperseded(f"population {population_id}: attempt {attempt} is not current")


def population_build(*, population_id: int, batch: int | None = None) -> Population:
    """Draw a stored population's personas in memory and write them `batch` at a time
    (POPULATION_BUILD_BATCH), each batch committed with `personas_done`, then mark it ready.

    Idempotent under re-delivery: a ready or failed population is left as it is; a build taken
    up again continues after the last committed batch (the profile stream restored from
    `build_state`), so the same seed gives the same personas however often it was interrupted.
    A newer attempt ends an older one at its next batch (BuildSuperseded)."""
    claim = _build_claim(population_id)
    if claim is None:
        return Population.objects.get(pk=population_id)
    population, done = claim
    attempt, size = population.build_attempt, population.size
    plan = _population_plan(population, attempt=attempt)
    profiles = None
    if population.include_behavioral_characteristics:
        # A stream of its own, so adding profiles never changes the personas' demographics.
        state = population.build_state
        source = ProfileSource(
            area_states=plan.area_states,
            rng=rng_state_load(state["rng"])
            if done
            else np.random.default_rng([population.seed, 1]),
        )
        profiles = ProfileStream(
            source, plan.drawn, block_start=state["block_start"] if done else 0
        )
    step = batch or settings.POPULATION_BUILD_BATCH
    for start in range(done, size, step):
        stop = min(start + step, size)
        with transaction.atomic():
            _build_own(population_id, attempt)
            personas_insert(
                population_id=population_id,
                area_ids=plan.area_ids,
                drawn=plan.drawn,
                profiles=profiles,
                start=start,
                stop=stop,
            )
            Population.objects.filter(pk=population_id).update(
                personas_done=stop,
                progress_at=timezone.now(),
                stage="writing personas",
                build_state=profiles.checkpoint(stop) if profiles else {},
            )
    with transaction.atomic():
        _build_own(population_id, attempt)
        population.validation_report = validation_report(
            areas=plan.draws, drawn=plan.drawn, constraints=plan.rules, seed=population.seed
        )
        population.status = Population.Status.READY
        population.personas_done = size
        population.stage = ""
        population.error_message = ""
        population.build_state = {}
        population.finished_at = population.progress_at = timezone.now()
        population.save(
            update_fields=[
                "validation_report", "status", "personas_done", "stage", "error_message",
                "build_state", "finished_at", "progress_at",
            ]
        )  # fmt: skip
    return population


def population_fail(*, population_id: int, message: str) -> None:
    """Mark a build failed with `message` (for users, no internals) and drop its partial
    personas: a failed population is never used, only created again."""
    from studies.services.held_runs import held_runs_fail  # studies builds on personas

    with transaction.atomic():
        Population.objects.filter(pk=population_id).update(
            status=Population.Status.FAILED,
            stage="",
            error_message=message,
            build_state={},
            finished_at=timezone.now(),
        )
        Persona.objects.filter(population_id=population_id).delete()
        held_runs_fail(population_id=population_id, message=message)


def population_build_execute(*, population_id: int) -> Population:
    """Build a queued population off the request, recording building/ready/failed on its row;
    a failure's details go to the log, users read a message without internals. Once it is
    ready, the runs held for it start (after commit; one that cannot start is marked failed and
    never fails the build), also when a completed build is delivered again."""
    from studies.services.held_runs import held_runs_start  # studies builds on personas

    try:
        population = population_build(population_id=population_id)
    except BuildSuperseded:
        logger.info("Population %s: a newer attempt took the build over", population_id)
        return Population.objects.get(pk=population_id)
    except DomainError as exc:
        message = exc.message
        logger.warning("Population %s cannot be built: %s", population_id, message)
    except Exception:
        logger.exception("Population %s failed to build", population_id)
        message = "the server stopped on an internal error; create the population again"
    else:
        if population.status == Population.Status.READY:
            transaction.on_commit(lambda: held_runs_start(population_id=population_id), robust=True)
        return population
    population_fail(population_id=population_id, message=message)
    return Population.objects.get(pk=population_id)


def populations_resume_stale(
    *, now=None, stale_for: timedelta | None = None, executor: str = "celery"
) -> list[int]:
    """Hand every build whose worker fell silent (queued or building, no progress for
    `stale_for`, by default POPULATION_STALE_SECONDS, the build task's time limit) to `executor`
    again (the workers, for the watchdog; the calling thread for `manage.py resume_populations`);
    it continues after its last committed batch. After POPULATION_BUILD_ATTEMPTS attempts a build
    is marked failed instead, with a message saying so."""
    from personas.tasks import population_build_dispatch  # tasks -> build: import late

    now = now or timezone.now()
    cutoff = now - (stale_for or timedelta(seconds=settings.POPULATION_STALE_SECONDS))
    stale = (
        Population.objects.filter(status__in=[Population.Status.QUEUED, Population.Status.BUILDING])
        .annotate(last_progress=Coalesce("progress_at", "created_at"))
        .filter(last_progress__lt=cutoff)
        .order_by("pk")
    )
    resumed = []
    for population in stale:
        # Claimed by moving its progress time: a second watchdog finds it fresh and skips it.
        claimed = Population.objects.filter(
            pk=population.pk,
            status=population.status,
            build_attempt=population.build_attempt,
            progress_at=population.progress_at,
        ).update(progress_at=now)
        if not claimed:
            continue
        if population.build_attempt >= settings.POPULATION_BUILD_ATTEMPTS:
            message = (
                f"the build stopped {population.build_attempt} times without finishing (its "
                "worker was lost or ran out of time); create the population again, or a smaller one"
            )
            population_fail(population_id=population.pk, message=message)
            logger.error("Population %s: %s", population.pk, message)
            continue
        logger.warning(
            "Population %s was silent since %s: its build is taken up again (%s)",
            population.pk,
            population.last_progress,
            executor,
        )
        population_build_dispatch(population_id=population.pk, executor=executor)
        resumed.append(population.pk)
    return resumed
