"""Reads for populations and personas."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from config.ownership import visible_to
from personas.models import Persona, Population, PopulationArea


def population_list(*, user) -> QuerySet[Population]:
    """The populations `user` may see (their own; staff all), newest first."""
    return visible_to(Population.objects.all(), user).order_by("-created_at", "-id")


def population_ready_list(*, user) -> QuerySet[Population]:
    """The populations `user` may run a study on: visible and built (not queued, building or
    failed)."""
    return population_list(user=user).filter(status=Population.Status.READY)


def population_detail(*, user) -> QuerySet[Population]:
    return (
        population_list(user=user)
        .prefetch_related("areas__area")
        .annotate(persona_count=Count("personas"))
    )


def persona_visible(*, user) -> QuerySet[Persona]:
    """Personas of the populations `user` may see."""
    return visible_to(
        Persona.objects.select_related("area"), user, owner_field="population__created_by"
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


PERSONA_FILTERS = ("area", "sex", "age_bracket", "race_ethnicity", "education", "income")


def persona_list(*, population: Population, filters: dict[str, str]) -> QuerySet[Persona]:
    """A population's personas, filtered by area, demographic categories and age range."""
    qs = Persona.objects.filter(population=population).select_related("area")
    for key in PERSONA_FILTERS:
        if filters.get(key):
            qs = qs.filter(**{"area_id" if key == "area" else key: filters[key]})
    if filters.get("age_min") is not None:
        qs = qs.filter(age__gte=filters["age_min"])
    if filters.get("age_max") is not None:
        qs = qs.filter(age__lte=filters["age_max"])
    return qs.order_by("index")


def persona_rows(personas) -> list[dict]:
    """Flat rows (demographics, area, state and every profile field) in the personas.json layout."""
    from environment.categories import DIMENSIONS

    rows = []
    for p in personas:
        row = {"id": p.id, "index": p.index, "area": p.area_id, "state": p.area.state, "age": p.age}
        row.update({d: getattr(p, d) for d in DIMENSIONS})
        if p.profile:
            row.update(p.profile)
        rows.append(row)
    return rows


def population_list_summary(*, user, search: str = "") -> QuerySet[Population]:
    """The populations `user` may see with their areas (one query for all), by name or area."""
    populations = population_list(user=user).prefetch_related(
        Prefetch("areas", queryset=PopulationArea.objects.select_related("area"))
    )
    if search:
        matching = PopulationArea.objects.filter(
            population=OuterRef("pk"), area__name__icontains=search
        )
        populations = populations.filter(Q(name__icontains=search) | Q(Exists(matching)))
    return populations
