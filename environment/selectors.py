"""Reads for areas."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import date

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Window,
)

from config.process_cache import ProcessCache
from environment.categories import DIMENSIONS
from environment.context import environmental_context
from environment.elections import last_presidential_year_before
from environment.models import (
    Area,
    DemographicMarginal,
    ElectionResult,
)

logger = logging.getLogger(__name__)

# The cache key holding the reference data's version (environment.services.reference_data_changed
# replaces it); what is derived from areas and their figures is cached under keys that include it.
REFERENCE_VERSION_KEY = "environment:reference-version"
# Rendered contexts this web process served lately, under the same keys as in the shared cache:
# the version read from the shared cache on every request still decides which one is current.
_rendered_contexts = ProcessCache(max_bytes=8 * 1024 * 1024)

# How a reason names each dimension whose census marginals an area lacks.
DIMENSION_NAMES = {
    "age_bracket": "age",
    "sex": "sex",
    "race_ethnicity": "race",
    "education": "education",
    "income": "income",
}


_EVERY_DIMENSION = Q(**{f"has_{d}": True for d in DIMENSIONS})


def area_usability(queryset: QuerySet[Area] | None = None) -> QuerySet[Area]:
    """Areas annotated with `has_<dimension>` for each of the five census dimensions and `usable`
    (all five present): personas are raked to every dimension's marginals, so an area lacking
    one cannot hold a population. The one rule the study form, the area API and
    `population_create` apply; one correlated EXISTS per dimension, no per-area queries.
    Narrow it with `area_usable(True/False)`."""
    queryset = Area.objects.all() if queryset is None else queryset
    present = {
        f"has_{d}": Exists(DemographicMarginal.objects.filter(area=OuterRef("pk"), dimension=d))
        for d in DIMENSIONS
    }
    return queryset.annotate(**present).annotate(
        usable=ExpressionWrapper(_EVERY_DIMENSION, output_field=BooleanField())
    )


def area_usable(usable: bool = True) -> Q:
    """The filter for `area_usability()`'s areas that can (or cannot) hold a population."""
    return _EVERY_DIMENSION if usable else ~_EVERY_DIMENSION


def area_missing_dimensions(area: Area) -> list[str]:
    """The dimensions an area from `area_usability` has no marginals for, in DIMENSIONS order."""
    return [d for d in DIMENSIONS if not getattr(area, f"has_{d}")]


def area_unusable_reason(area: Area) -> str | None:
    """Why an area from `area_usability` cannot hold a population (None when it can)."""
    missing = area_missing_dimensions(area)
    if not missing:
        return None
    names = "/".join(DIMENSION_NAMES[d] for d in missing)
    return (
        f"no {names} marginals for this {area.get_kind_display().lower()}: personas are drawn "
        "to all five census dimensions (age, sex, race, education, income)"
    )


def area_list(
    *, search: str = "", state: str = "", kind: str = "", usable: bool | None = None
) -> QuerySet[Area]:
    qs = area_usability()
    if usable is not None:
        qs = qs.filter(area_usable(usable))
    if search:
        qs = qs.filter(name__icontains=search)
    if state:
        qs = qs.filter(state__iexact=state)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("kind", "state", "name")


def area_with_marginals() -> QuerySet[Area]:
    return area_usability().prefetch_related(
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


def election_results_before(*, area_ids: Iterable[str], before: date) -> QuerySet[ElectionResult]:
    """Per area, its latest presidential result from an election held strictly before `before`
    (a poll whose fieldwork ended on election day gets the previous election), in one query.

    An area with no such result is absent; a result may be older than the last election before
    `before` where that election's figure is missing for the area (its `year` says which).
    `{r.area_id: r for r in election_results_before(...)}` gives a table by area.
    """
    latest = Window(Max("year"), partition_by=[F("area_id")])
    return (
        ElectionResult.objects.filter(
            area_id__in=list(area_ids), year__lte=last_presidential_year_before(before)
        )
        .annotate(latest_year=latest)
        .filter(year=F("latest_year"))
        .order_by("area_id")
    )


def reference_data_version() -> str:
    """The current version of the reference data (areas, marginals, elections, economic figures).
    A cache that lost it (evicted, flushed) gets a new random one, never an earlier value, so an
    entry derived from older data is never current again."""
    version = cache.get(REFERENCE_VERSION_KEY)
    if version is None:
        cache.add(REFERENCE_VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(REFERENCE_VERSION_KEY)
    return version


def environmental_context_rendered(*, area_id: str, render: Callable[[dict], bytes]) -> bytes:
    """`render` of one area's environmental context, kept in the cache until the reference data
    changes (or ENVIRONMENT_CONTEXT_CACHE_SECONDS pass); raises Area.DoesNotExist. Computed without
    the cache while the cache is unreachable."""
    try:
        # The version is read before the context is computed: a change committed meanwhile leaves
        # newer data under the older key, never older data under the newer one.
        key = f"environment:context:{reference_data_version()}:{area_id}"
        body = _rendered_contexts.get(key)
        if body is not None:
            return body
        body = cache.get(key)
    except (redis.RedisError, OSError) as exc:
        logger.warning(
            "Environmental context of %s not cached, the cache is unreachable: %s", area_id, exc
        )
        return render(environmental_context(area_id=area_id))
    if body is None:
        body = render(environmental_context(area_id=area_id))
        try:
            cache.set(key, body, settings.ENVIRONMENT_CONTEXT_CACHE_SECONDS)
        except (redis.RedisError, OSError) as exc:
            logger.warning("Environmental context of %s not cached: %s", area_id, exc)
    _rendered_contexts.set(key, body, seconds=settings.ENVIRONMENT_CONTEXT_CACHE_SECONDS)
    return body
