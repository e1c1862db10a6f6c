"""Writes for populations: sampling personas from their areas' census marginals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction

from config.api import DomainError
from environment.categories import AGE_BRACKETS, DIMENSIONS
from environment.models import Area
from environment.selectors import area_marginals
from personas.models import Persona, Population, PopulationArea


@dataclass(frozen=True)
class AreaWeight:
    area_id: str
    weight: float | None = None  # None: weight by the area's adult population


def _allocate(size: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder allocation of `size` personas to areas in proportion to `weights`."""
    exact = weights / weights.sum() * size
    counts = np.floor(exact).astype(int)
    remainder = size - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts


def _resolve_weights(areas: list[AreaWeight], found: dict[str, Area]) -> np.ndarray:
    explicit = [a.weight is not None for a in areas]
    if any(explicit) and not all(explicit):
        raise DomainError(
            "Give a weight for every area or for none (none weights areas by adult population).",
            fields={"areas": ["mixed explicit and implicit weights"]},
        )
    if all(explicit):
        weights = np.array([a.weight for a in areas], dtype=float)
        if (weights <= 0).any():
            raise DomainError("Area weights must be positive.", fields={"areas": ["weight <= 0"]})
        return weights
    return np.array(
        [found[a.area_id].adult_population or found[a.area_id].population for a in areas],
        dtype=float,
    )


@transaction.atomic
def population_create(
    *, size: int, areas: list[AreaWeight], seed: int | None = None, name: str = "", created_by=None
) -> Population:
    """Sample `size` personas across `areas`; the same areas, size and seed give the same personas."""
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
    marginals = area_marginals(area_ids=ids)
    for area_id in ids:
        absent = [d for d in DIMENSIONS if d not in marginals[area_id]]
        if absent:
            raise DomainError(
                f"Area {area_id} has no census marginals for {', '.join(absent)}, so personas "
                "cannot be sampled there; choose another area.",
                code="area_incomplete",
                fields={"areas": [f"{area_id} lacks {', '.join(absent)}"]},
            )
    weights = _resolve_weights(areas, found)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    counts = _allocate(size, weights)

    population = Population.objects.create(name=name, size=size, seed=seed, created_by=created_by)
    PopulationArea.objects.bulk_create(
        [
            PopulationArea(
                population=population, area_id=a, weight=float(w / weights.sum()), personas=int(c)
            )
            for a, w, c in zip(ids, weights, counts, strict=True)
        ]
    )
    rng = np.random.default_rng(seed)
    personas: list[Persona] = []
    index = 0
    for area_id, count in zip(ids, counts, strict=True):
        if count == 0:
            continue
        drawn = {}
        for dimension, categories in DIMENSIONS.items():
            codes = list(categories)
            p = np.array([marginals[area_id][dimension][c] for c in codes])
            drawn[dimension] = rng.choice(codes, size=count, p=p / p.sum())
        # Exact age uniform within the census bracket (65+ drawn up to 90).
        lows = np.array([AGE_BRACKETS[b][0] for b in drawn["age_bracket"]])
        highs = np.array([AGE_BRACKETS[b][1] for b in drawn["age_bracket"]])
        ages = rng.integers(lows, highs + 1)
        for i in range(count):
            personas.append(
                Persona(
                    population=population,
                    index=index,
                    area_id=area_id,
                    age=int(ages[i]),
                    **{d: str(drawn[d][i]) for d in DIMENSIONS},
                )
            )
            index += 1
    Persona.objects.bulk_create(personas, batch_size=5000)
    return population
