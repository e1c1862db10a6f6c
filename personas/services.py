"""Writes for populations: creating one census-proportional across its areas (its personas are
drawn by personas.build), importing a personas.json pool, refusing one that is not ready."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import ConflictError, DomainError
from environment.categories import DIMENSIONS
from environment.models import Area
from environment.selectors import (
    area_missing_dimensions,
    area_unusable_reason,
    area_usability,
    area_usable,
)
from personas.build import population_build
from personas.generation import METHOD
from personas.joint import Constraints, allocate
from personas.models import Persona, Population, PopulationArea

# Weights are relative; these bounds still admit raw adult population counts (the largest state's
# is about 3e7) while keeping their sum from overflowing and every normalized weight above zero.
MIN_AREA_WEIGHT = 1e-9
MAX_AREA_WEIGHT = 1e9


@dataclass(frozen=True)
class AreaWeight:
    area_id: str
    weight: float | None = None  # None: weight by the area's adult population


def _resolve_weights(areas: list[AreaWeight], found: dict[str, Area]) -> np.ndarray:
    explicit = [a.weight is not None for a in areas]
    if any(explicit) and not all(explicit):
        raise DomainError(
            "Give a weight for every area or for none (none weights areas by adult population).",
            fields={"areas": ["mixed explicit and implicit weights"]},
        )
    if all(explicit):
        weights = np.array([a.weight for a in areas], dtype=float)
        bad = [
            (a.area_id, w)
            for a, w in zip(areas, weights, strict=True)
            if not (math.isfinite(w) and MIN_AREA_WEIGHT <= w <= MAX_AREA_WEIGHT)
        ]
        if bad:
            raise DomainError(
                f"Area weights must be finite numbers from {MIN_AREA_WEIGHT:g} to "
                f"{MAX_AREA_WEIGHT:.0f}; they are relative (2 and 1 give the first area twice the "
                "personas). Got " + ", ".join(f"{w!r} for {a}" for a, w in bad) + ".",
                fields={"areas": [f"{a}: weight {w!r}" for a, w in bad]},
            )
        return weights
    return np.array(
        [found[a.area_id].adult_population or found[a.area_id].population for a in areas],
        dtype=float,
    )


@transaction.atomic
def population_create(
    *,
    size: int,
    areas: list[AreaWeight],
    seed: int | None = None,
    name: str = "",
    constraints: dict | None = None,
    include_behavioral_characteristics: bool = False,
    created_by=None,
    defer: bool = False,
) -> Population:
    """Generate `size` census-proportional personas across `areas`; same spec and seed, same personas.

    With `defer`, the population is only checked and stored `queued` (with its areas' allocation);
    `population_build` draws its personas later, off the request (personas.tasks)."""
    maximum = settings.POPULATION_MAX_SIZE
    if not 1 <= size <= maximum:
        raise DomainError(
            f"Population size must be between 1 and {maximum} (POPULATION_MAX_SIZE); got {size}.",
            fields={"size": [f"must be 1..{maximum}"]},
        )
    if not areas:
        raise DomainError(
            "Name at least one area, e.g. dallas_tx_city.", fields={"areas": ["empty"]}
        )
    rules = Constraints.from_spec(constraints)
    ids = [a.area_id for a in areas]
    if len(set(ids)) != len(ids):
        raise DomainError("Each area may appear only once.", fields={"areas": ["duplicate area"]})
    found = Area.objects.in_bulk(ids)
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise DomainError(
            f"Unknown area(s): {', '.join(unknown)}. List areas at /api/v1/areas/?search=<name>.",
            code="unknown_area",
            fields={"areas": [f"unknown area {u}" for u in unknown]},
        )
    # The rule /api/v1/areas/ reports as `usable` and the study form offers.
    for area in area_usability(Area.objects.filter(pk__in=ids)).filter(area_usable(False)):
        absent = area_missing_dimensions(area)
        raise DomainError(
            f"Area {area.pk} cannot hold a population: {area_unusable_reason(area)}. Choose "
            "another area (/api/v1/areas/?usable=true lists those that can).",
            code="area_incomplete",
            fields={"areas": [f"{area.pk} lacks {', '.join(absent)}"]},
        )
    weights = _resolve_weights(areas, found)
    if seed is None:
        seed = secrets.randbits(63)
    counts = allocate(size, weights)
    population = Population.objects.create(
        name=name,
        size=size,
        seed=seed,
        method=METHOD,
        constraints=rules.as_spec(),
        include_behavioral_characteristics=include_behavioral_characteristics,
        created_by=created_by,
        status=Population.Status.QUEUED if defer else Population.Status.BUILDING,
        stage="waiting for a worker" if defer else "",
        started_at=None if defer else timezone.now(),
    )
    # Created in the order the areas were given (ascending pk): the build draws them in it.
    PopulationArea.objects.bulk_create(
        [
            PopulationArea(
                population=population, area_id=a, weight=float(w / weights.sum()), personas=int(c)
            )
            for a, w, c in zip(ids, weights, counts, strict=True)
        ]
    )
    if defer:
        return population
    # In the request's transaction the batches would commit nothing: write them in one.
    return population_build(population_id=population.pk, batch=size)


def population_usable_check(*, population: Population) -> None:
    """Refuse (409) a population that is not ready: still being built, or failed."""
    if population.status in (Population.Status.QUEUED, Population.Status.BUILDING):
        raise ConflictError(
            f"Population {population.pk} is still being built ({population.personas_done} of "
            f"{population.size} personas); try again when its status is ready.",
            code="population_not_ready",
            fields={"population": [f"status {population.status}"]},
        )
    if population.status == Population.Status.FAILED:
        raise ConflictError(
            f"Population {population.pk} failed to build: {population.error_message} "
            "Create it again.",
            code="population_failed",
            fields={"population": ["status failed"]},
        )


@transaction.atomic
def population_import_pool(*, text: str, name: str = "", created_by=None) -> Population:
    """Create a population from a personas.json pool; every row is checked before anything is written."""
    from personas.profile.export import POOL_CONTEXT_FIELD, PoolFormatError, pool_from_json
    from personas.profile.fields import FIELDS_BY_NAME

    try:
        rows = pool_from_json(text)
    except PoolFormatError as exc:
        raise DomainError(
            "The pool is not valid personas.json: " + "; ".join(exc.errors[:20]),
            code="invalid_pool",
            fields=dict(list(exc.fields.items())[:100]),
        ) from exc
    if not rows:
        raise DomainError("The pool holds no personas.", code="invalid_pool")
    problems: list[tuple[str, str]] = []
    if any("age" not in row for row in rows):
        problems.append(
            (
                "anonymized",
                "an anonymized pool has age buckets, not ages, and cannot become personas again; "
                "import the full export",
            )
        )
    # pool_from_json has checked that every area present is a non-empty string.
    found = Area.objects.in_bulk({row["area"] for row in rows if "area" in row})
    for position, row in enumerate(rows):
        if "area" not in row:
            problems.append(
                (
                    f"personas[{position}].area",
                    f"row {position}: 'area' is required to place the persona "
                    "(e.g. dallas_tx_city)",
                )
            )
        elif row["area"] not in found:
            problems.append(
                (f"personas[{position}].area", f"row {position}: unknown area {row['area']!r}")
            )
    if problems:
        fields: dict[str, list[str]] = {}
        for where, message in problems[:100]:
            fields.setdefault(where, []).append(message)
        raise DomainError(
            "The pool cannot be imported: " + "; ".join(m for _, m in problems[:20]),
            code="invalid_pool",
            fields=fields,
        )
    with_profile = any(key in FIELDS_BY_NAME for row in rows for key in row)
    population = Population.objects.create(
        name=name or "Imported pool",
        size=len(rows),
        seed=0,
        method="imported from personas.json",
        include_behavioral_characteristics=with_profile,
        created_by=created_by,
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["area"]] = counts.get(row["area"], 0) + 1
    PopulationArea.objects.bulk_create(
        [
            PopulationArea(population=population, area_id=a, weight=n / len(rows), personas=n)
            for a, n in counts.items()
        ]
    )
    Persona.objects.bulk_create(
        [
            Persona(
                population=population,
                index=i,
                area_id=row["area"],
                age=int(row["age"]),
                **{d: row[d] for d in DIMENSIONS},
                name=row.get("name", ""),
                profile={
                    k: v for k, v in row.items() if k in FIELDS_BY_NAME or k == POOL_CONTEXT_FIELD
                }
                or None,
            )
            for i, row in enumerate(rows)
        ],
        batch_size=5000,
    )
    return population
