"""Reads for areas."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from environment.models import Area, DemographicMarginal


def area_list(*, search: str = "", state: str = "", kind: str = "") -> QuerySet[Area]:
    qs = Area.objects.all()
    if search:
        qs = qs.filter(name__icontains=search)
    if state:
        qs = qs.filter(state__iexact=state)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("kind", "state", "name")


def area_with_marginals() -> QuerySet[Area]:
    return Area.objects.prefetch_related(
        Prefetch("marginals", queryset=DemographicMarginal.objects.order_by("dimension", "id"))
    )


def area_marginals(*, area_ids: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """{area_id: {dimension: {category: share}}} for the given areas, in one query."""
    table: dict[str, dict[str, dict[str, float]]] = {a: {} for a in area_ids}
    rows = DemographicMarginal.objects.filter(area_id__in=area_ids).values_list(
        "area_id", "dimension", "category", "share"
    )
    for area_id, dimension, category, share in rows:
        table[area_id].setdefault(dimension, {})[category] = share
    return table
