"""Writes for areas: loading census marginals, elections and economic figures from the data files."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.core.cache import cache
from django.db import models, transaction

from environment.categories import DIMENSIONS
from environment.loaders.census import PLACES_FILE, load_cities, load_states, state_codes
from environment.loaders.counties import county_tables, load_counties
from environment.loaders.elections import (
    city_election_2012,
    county_election_gaps,
    county_elections,
    county_votes_2012,
    state_election_gaps,
    state_elections,
)
from environment.loaders.records import AreaRecord, area_slug
from environment.models import Area, DataGap, DemographicMarginal, EconomicIndicator, ElectionResult
from environment.selectors import REFERENCE_VERSION_KEY

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"

# The context's names for the marginal dimensions, used in the gaps it reports.
DIMENSION_FIGURES = {
    "age_bracket": "age_distribution",
    "sex": "sex_composition",
    "race_ethnicity": "racial_composition",
    "education": "education_levels",
    "income": "income_distribution",
}
AREA_FIELDS = [
    "name", "kind", "state", "state_name", "fips", "population", "adult_population",
    "citizens_voting_age", "county_fips", "county_name", "source", "year",
]  # fmt: skip

__all__ = ["DATA_DIR", "AreaLoadReport", "area_load_from_files", "area_slug"]


@dataclass(frozen=True)
class AreaLoadReport:
    states: int
    counties: int
    cities: int
    marginals: int
    election_results: int
    indicators: int
    gaps: int
    created: int
    updated: int
    missing_dimensions: dict[str, list[str]]


def _records(data_dir: Path) -> tuple[list[AreaRecord], list[AreaRecord], list[AreaRecord]]:
    codes = state_codes(data_dir)
    tables = county_tables(data_dir)
    states = load_states(data_dir, codes)
    by_state, refused = state_elections(data_dir)
    for record in states:
        record.elections = by_state.get(record.state, [])
        record.gaps.update(
            state_election_gaps(record.state, record.elections, refused.get(record.state, {}))
        )
        # Trends need two years of one measure; the only other state figures (538's table of
        # 2016 KFF/BLS figures) come from other surveys, so a difference would mix sources.
        record.gaps["economic_trend"] = (
            "the state files hold one year of ACS figures (2018 1-year); the only other state "
            "economic figures in the shared data (FiveThirtyEight hate-crimes table: 2016 median "
            "income and Sept. 2016 BLS unemployment via KFF) come from different surveys, so "
            "their difference would not be a trend"
        )
    counties = load_counties(data_dir, codes, states, tables)
    votes_2012 = county_votes_2012(data_dir)
    by_county, no_total = county_elections(data_dir, votes_2012)
    for record in counties:
        record.elections = by_county.get(record.fips, [])
        record.gaps.update(
            county_election_gaps(
                record.state, record.elections, no_total=no_total.get(record.fips, frozenset())
            )
        )
    cities = load_cities(data_dir, codes, states, tables)
    for record in cities:
        # 2016-2024 come with the places file; 2012 is joined here through the primary county.
        elections, gaps = city_election_2012(record, votes_2012, PLACES_FILE)
        record.elections += elections
        record.gaps.update(gaps)
    return states, counties, cities


def _note_gaps(record: AreaRecord) -> list[str]:
    """Record why a marginal or count is missing; return the missing marginal dimensions."""
    present = {m.dimension for m in record.marginals}
    absent = [d for d in DIMENSIONS if d not in present]
    file = record.source.rsplit("[", 1)[-1].rstrip("]")
    for dimension in absent:
        record.gaps.setdefault(
            DIMENSION_FIGURES[dimension], f"{file} has no {dimension} table for this area"
        )
    if record.adult_population is None:
        record.gaps.setdefault("adults", f"{file} has no count of adults for this area")
    if record.citizens_voting_age is None:
        record.gaps.setdefault("citizens_voting_age", f"{file} has no CVAP for this area")
    indicators = {i.indicator for i in record.indicators}
    for indicator in EconomicIndicator.Indicator:
        if indicator not in indicators:
            record.gaps.setdefault(indicator.value, f"{file} has no {indicator.label.lower()}")
    return absent


def reference_data_changed() -> None:
    """Retire everything cached from the reference data (every area's environmental context, which
    also depends on every state's income): called once a change to areas or their figures is
    committed."""
    cache.set(REFERENCE_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def _sync(model: type[models.Model], objs: list, keys: list[str], area_ids: list[str]) -> None:
    """Upsert rows on their natural key and delete this load's areas' rows the files dropped."""
    updates = [
        f.name for f in model._meta.concrete_fields if not f.primary_key and f.name not in keys
    ]
    model._default_manager.bulk_create(
        objs, update_conflicts=True, unique_fields=keys, update_fields=updates, batch_size=2000
    )
    wanted = {tuple(getattr(o, k) for k in keys) for o in objs}
    existing = model._default_manager.filter(area_id__in=area_ids).values_list("pk", *keys)
    stale = [row[0] for row in existing if tuple(row[1:]) not in wanted]
    if stale:
        model._default_manager.filter(pk__in=stale).delete()


def area_load_from_files(*, data_dir: Path = DATA_DIR) -> AreaLoadReport:
    """Load (or update) every state, county and city with its figures; idempotent, all or nothing."""
    states, counties, cities = _records(data_dir)
    records = states + counties + cities
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise ValueError(f"Area ids are not unique in the source files: {duplicates[:10]}")
    missing = {r.id: absent for r in records if (absent := _note_gaps(r))}

    marginals, elections, indicators, gaps = [], [], [], []
    for r in records:
        for m in r.marginals:
            marginals += [
                DemographicMarginal(
                    area_id=r.id,
                    dimension=m.dimension,
                    category=category,
                    share=m.shares[category],
                    universe=m.universe,
                    source=m.source,
                    year=m.year,
                )
                for category in DIMENSIONS[m.dimension]
            ]
        elections += [ElectionResult(area_id=r.id, **vars(e)) for e in r.elections]
        indicators += [EconomicIndicator(area_id=r.id, **vars(i)) for i in r.indicators]
        gaps += [DataGap(area_id=r.id, figure=f, reason=why) for f, why in r.gaps.items()]

    with transaction.atomic():
        existing = set(Area.objects.filter(id__in=ids).values_list("id", flat=True))
        Area.objects.bulk_create(
            [Area(id=r.id, **{f: getattr(r, f) for f in AREA_FIELDS}) for r in records],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=AREA_FIELDS,
            batch_size=2000,
        )
        _sync(DemographicMarginal, marginals, ["area_id", "dimension", "category"], ids)
        _sync(ElectionResult, elections, ["area_id", "year"], ids)
        _sync(EconomicIndicator, indicators, ["area_id", "indicator", "year"], ids)
        _sync(DataGap, gaps, ["area_id", "figure"], ids)
        # Bulk upserts send no signals (environment.signals covers single saves and deletes).
        transaction.on_commit(reference_data_changed)
    return AreaLoadReport(
        states=len(states),
        counties=len(counties),
        cities=len(cities),
        marginals=len(marginals),
        election_results=len(elections),
        indicators=len(indicators),
        gaps=len(gaps),
        created=len(set(ids) - existing),
        updated=len(existing),
        missing_dimensions=missing,
    )
