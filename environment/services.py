"""Writes for areas: loading census marginals from the bundled real data files."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import transaction

from environment.categories import DIMENSIONS
from environment.models import Area, DemographicMarginal

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
STATES_FILE = "states_acs2018_1yr_marginals.csv"
PLACES_FILE = "places_acs2022_with_primary_county_lean.csv"
COUNTY_FILE = "medsl_election-context-2018.csv"
CODES_FILE = "simplemaps_uscities_basic.csv"

AGE_COLUMNS = {
    "18_24": "age_18_24",
    "25_34": "age_25_34",
    "35_44": "age_35_44",
    "45_54": "age_45_54",
    "55_64": "age_55_64",
    "65_plus": "age_65plus",
}
RACE_COLUMNS = {
    "white": "nh_white",
    "black": "nh_black",
    "hispanic": "hispanic",
    "asian": "nh_asian",
    "other": "nh_other",
}
EDUCATION_COLUMNS = {
    "lt_hs": "edu_lt_hs",
    "hs": "edu_hs",
    "some_college": "edu_some_college_assoc",
    "bachelors": "edu_bachelors",
    "graduate": "edu_graduate",
}
INCOME_COLUMNS = {
    "lt_25k": ["hh_inc_pct_lt10k", "hh_inc_pct_10_15k", "hh_inc_pct_15_25k"],
    "25_50k": ["hh_inc_pct_25_35k", "hh_inc_pct_35_50k"],
    "50_75k": ["hh_inc_pct_50_75k"],
    "75_100k": ["hh_inc_pct_75_100k"],
    "100_150k": ["hh_inc_pct_100_150k"],
    "150k_plus": ["hh_inc_pct_150_200k", "hh_inc_pct_200k_plus"],
}


@dataclass
class MarginalRow:
    dimension: str
    shares: dict[str, float]
    universe: str
    source: str
    year: int


@dataclass
class AreaRecord:
    id: str
    name: str
    kind: str
    state: str
    state_name: str
    fips: str
    population: int
    adult_population: int | None
    county_fips: str
    county_name: str
    source: str
    year: int
    marginals: list[MarginalRow] = field(default_factory=list)


@dataclass(frozen=True)
class AreaLoadReport:
    states: int
    cities: int
    marginals: int
    created: int
    updated: int
    missing_dimensions: dict[str, list[str]]


def area_slug(name: str, state: str, kind: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return f"{base}_{state.lower()}_{kind}" if kind == Area.Kind.CITY else f"{base}_state"


def _num(value) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) or number < 0 else number


def _normalized(raw: dict[str, float]) -> dict[str, float]:
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def _counts_marginal(row, columns: dict[str, str], denominator: float | None) -> dict | None:
    values = {cat: _num(row.get(col)) for cat, col in columns.items()}
    if denominator is None or any(v is None for v in values.values()):
        return None
    return _normalized(values)


def _state_codes(data_dir: Path) -> dict[str, str]:
    codes = pd.read_csv(data_dir / CODES_FILE, usecols=["state_id", "county_fips"], dtype=str)
    codes["state_fips"] = codes["county_fips"].str.zfill(5).str[:2]
    table = codes.drop_duplicates("state_fips").set_index("state_fips")["state_id"]
    return table.to_dict()


def _race_with_fallback(row, state_race: dict[str, float] | None) -> tuple[dict | None, str]:
    total = _num(row.get("pop_total"))
    if not total:
        return None, ""
    known = {cat: _num(row.get(col)) for cat, col in RACE_COLUMNS.items()}
    missing = [cat for cat, v in known.items() if v is None]
    if not missing:
        return _normalized(known), ""
    if state_race is None:
        return None, ""
    shares = {cat: v / total for cat, v in known.items() if v is not None}
    residual = max(0.0, 1.0 - sum(shares.values()))
    state_missing = sum(state_race[c] for c in missing) or 1.0
    for cat in missing:
        shares[cat] = residual * state_race[cat] / state_missing
    note = f"; {', '.join(missing)} suppressed in ACS: residual split by the state's shares"
    return _normalized(shares), note


def _load_states(data_dir: Path, codes: dict[str, str]) -> list[AreaRecord]:
    frame = pd.read_csv(data_dir / STATES_FILE, dtype={"state_fips": str})
    records = []
    for row in frame.to_dict("records"):
        fips = str(row["state_fips"]).zfill(2)
        state = codes.get(fips)
        if state is None:
            raise ValueError(f"{STATES_FILE}: no USPS code for state FIPS {fips} in {CODES_FILE}")
        source = f"{row['source']} [{STATES_FILE}]"
        adults = _num(row["pop_18plus"])
        record = AreaRecord(
            id=area_slug(row["state"], state, Area.Kind.STATE),
            name=row["state"],
            kind=Area.Kind.STATE,
            state=state,
            state_name=row["state"],
            fips=fips,
            population=int(row["pop_total"]),
            adult_population=int(adults) if adults else None,
            county_fips="",
            county_name="",
            source=source,
            year=2018,
        )
        _add_common_marginals(record, row, source, 2018)
        education = _counts_marginal(row, EDUCATION_COLUMNS, _num(row.get("pop_25plus")))
        if education:
            record.marginals.append(MarginalRow("education", education, "adults 25+", source, 2018))
        race, _ = _race_with_fallback(row, None)
        if race:
            record.marginals.append(
                MarginalRow("race_ethnicity", race, "all residents", source, 2018)
            )
        records.append(record)
    return records


def _add_common_marginals(record: AreaRecord, row: dict, source: str, year: int) -> None:
    adults = _num(row.get("pop_18plus"))
    age = _counts_marginal(row, AGE_COLUMNS, adults)
    if age:
        record.marginals.append(MarginalRow("age_bracket", age, "adults 18+", source, year))
    sex = _counts_marginal(row, {"male": "male_18plus", "female": "female_18plus"}, adults)
    if sex:
        record.marginals.append(MarginalRow("sex", sex, "adults 18+", source, year))
    income_raw = {}
    for cat, cols in INCOME_COLUMNS.items():
        values = [_num(row.get(c)) for c in cols]
        income_raw[cat] = None if any(v is None for v in values) else sum(values)
    if all(v is not None for v in income_raw.values()) and sum(income_raw.values()) > 0:
        record.marginals.append(
            MarginalRow("income", _normalized(income_raw), "households", source, year)
        )


def _city_education(
    county: dict | None, state_education: dict[str, float] | None, state_source: str
) -> tuple[dict | None, str, int]:
    if state_education is None:
        return None, "", 0
    if county is None:
        return (
            dict(state_education),
            f"state shares (county not in {COUNTY_FILE}): {state_source}",
            2018,
        )
    lt_hs = county["lesshs_pct"] / 100
    below_college = county["lesscollege_pct"] / 100
    middle, top = max(0.0, below_college - lt_hs), max(0.0, 1 - below_college)
    se = state_education
    hs_ratio = se["hs"] / (se["hs"] + se["some_college"])
    ba_ratio = se["bachelors"] / (se["bachelors"] + se["graduate"])
    shares = {
        "lt_hs": lt_hs,
        "hs": middle * hs_ratio,
        "some_college": middle * (1 - hs_ratio),
        "bachelors": top * ba_ratio,
        "graduate": top * (1 - ba_ratio),
    }
    source = (
        f"county {county['fips']} ({county['county']}) MEDSL election-context-2018, ACS 2012-16 "
        f"[{COUNTY_FILE}]; split to five levels by the state's ratios: {state_source}"
    )
    return _normalized(shares), source, 2016


def _load_cities(
    data_dir: Path, codes: dict[str, str], states: list[AreaRecord]
) -> list[AreaRecord]:
    frame = pd.read_csv(
        data_dir / PLACES_FILE, dtype={"state_fips": str, "place_fips": str, "county_fips": str}
    )
    counties = pd.read_csv(data_dir / COUNTY_FILE, dtype={"fips": str})
    counties["fips"] = counties["fips"].str.zfill(5)
    county_by_fips = counties.set_index("fips", drop=False).to_dict("index")
    state_by_fips = {s.fips: s for s in states}
    records = []
    for row in frame.to_dict("records"):
        fips = str(row["state_fips"]).zfill(2)
        state_rec = state_by_fips.get(fips)
        state = codes[fips]
        source = f"{row['source']} [{PLACES_FILE}]"
        adults = _num(row["pop_18plus"])
        county_fips = row["county_fips"] if isinstance(row["county_fips"], str) else ""
        record = AreaRecord(
            id=area_slug(row["city"], state, Area.Kind.CITY),
            name=row["city"],
            kind=Area.Kind.CITY,
            state=state,
            state_name=row["state_name"],
            fips=f"{fips}{row['place_fips']}",
            population=int(row["pop_total"]),
            adult_population=int(adults) if adults else None,
            county_fips=county_fips,
            county_name=row["county_name"] if isinstance(row["county_name"], str) else "",
            source=source,
            year=2022,
        )
        _add_common_marginals(record, row, source, 2022)
        state_marg = {m.dimension: m for m in state_rec.marginals} if state_rec else {}
        race_state = state_marg.get("race_ethnicity")
        race, note = _race_with_fallback(row, race_state.shares if race_state else None)
        if race:
            record.marginals.append(
                MarginalRow("race_ethnicity", race, "all residents", source + note, 2022)
            )
        edu_state = state_marg.get("education")
        education, edu_source, edu_year = _city_education(
            county_by_fips.get(county_fips),
            edu_state.shares if edu_state else None,
            edu_state.source if edu_state else "",
        )
        if education:
            record.marginals.append(
                MarginalRow("education", education, "adults 25+", edu_source, edu_year)
            )
        records.append(record)
    return records


def area_load_from_files(*, data_dir: Path = DATA_DIR) -> AreaLoadReport:
    """Load (or update) every state and city with its marginals; idempotent, all or nothing."""
    codes = _state_codes(data_dir)
    states = _load_states(data_dir, codes)
    cities = _load_cities(data_dir, codes, states)
    records = states + cities
    ids = [r.id for r in records]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"Area ids are not unique in the source files: {duplicates[:10]}")

    existing = set(Area.objects.filter(id__in=ids).values_list("id", flat=True))
    area_fields = [
        "name", "kind", "state", "state_name", "fips", "population", "adult_population",
        "county_fips", "county_name", "source", "year",
    ]  # fmt: skip
    missing: dict[str, list[str]] = {}
    with transaction.atomic():
        Area.objects.bulk_create(
            [Area(id=r.id, **{f: getattr(r, f) for f in area_fields}) for r in records],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=area_fields,
        )
        DemographicMarginal.objects.filter(area_id__in=ids).delete()
        rows = []
        for r in records:
            present = {m.dimension for m in r.marginals}
            absent = [d for d in DIMENSIONS if d not in present]
            if absent:
                missing[r.id] = absent
            for m in r.marginals:
                for category in DIMENSIONS[m.dimension]:
                    rows.append(
                        DemographicMarginal(
                            area_id=r.id,
                            dimension=m.dimension,
                            category=category,
                            share=m.shares[category],
                            universe=m.universe,
                            source=m.source,
                            year=m.year,
                        )
                    )
        DemographicMarginal.objects.bulk_create(rows, batch_size=2000)
    return AreaLoadReport(
        states=len(states),
        cities=len(cities),
        marginals=len(rows),
        created=len(set(ids) - existing),
        updated=len(existing),
        missing_dimensions=missing,
    )
