"""Reads for populations and personas."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from personas.models import Persona, Population


def population_detail() -> QuerySet[Population]:
    return Population.objects.prefetch_related("areas__area").annotate(
        persona_count=Count("personas")
    )


def population_composition(*, population: Population) -> dict[str, dict[str, int]]:
    """Counts of personas per category of every dimension, plus per area."""
    from environment.categories import DIMENSIONS

    result: dict[str, dict[str, int]] = {}
    base = Persona.objects.filter(population=population)
    for dimension in ("area_id", *DIMENSIONS):
        rows = base.values_list(dimension).annotate(n=Count("id")).order_by(dimension)
        result["area" if dimension == "area_id" else dimension] = {k: n for k, n in rows}
    return result
