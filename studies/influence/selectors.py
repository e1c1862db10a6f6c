"""Reads for multi-agent simulations, narrowed to what the requesting user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from config.ownership import visible_to
from personas.models import Persona, Population
from studies.models import InfluenceSimulation


def influence_simulation_list(*, user: Any) -> QuerySet[InfluenceSimulation]:
    return visible_to(InfluenceSimulation.objects.select_related("run"), user)


def influence_population_visible(*, user: Any) -> QuerySet[Population]:
    """Populations the user may simulate over (their own; all for staff)."""
    return visible_to(Population.objects.all(), user)


def influence_persona_populations(*, persona_ids: list[int], user: Any) -> list[int]:
    """The distinct populations the user may see of the named personas."""
    visible = Persona.objects.filter(
        id__in=persona_ids, population__in=influence_population_visible(user=user)
    )
    return sorted(set(visible.values_list("population_id", flat=True)))
