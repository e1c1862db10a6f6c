"""States and cities from the tidy ACS tables (marginals, adults, CVAP, income, unemployment)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from environment.loaders.counties import (
    MEDSL_FILE,
    CountyTables,
    county_education,
    county_label,
    county_unemployment,
)
from environment.loaders.elections import city_elections
from environment.loaders.records import (
    AreaRecord,
    IndicatorRow,
    MarginalRow,
    area_slug,
    normalized,
    num,
)
from environment.models import Area, EconomicIndicator

STATES_FILE = "states_acs2018_1yr_marginals.csv"
PLACES_FILE = "places_acs2022_with_primary_county_lean.csv"
COUNTY_FILE = MEDSL_FILE
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
INCOME = EconomicIndicator.Indicator.MEDIAN_HOUSEHOLD_INCOME
UNEMPLOYMENT = EconomicIndicator.Indicator.UNEMPLOYMENT_RATE


def _counts_marginal(row, columns: dict[str, str], denominator: float | None) -> dict | None:
    values = {cat: num(row.get(col)) for cat, col in columns.items()}
    if denominator is None or any(v is None for v in values.values()):
        return None
    return normalized(values)


def state_codes(data_dir: Path) -> dict[str, str]:
    codes = pd.read_csv(data_dir / CODES_FILE, usecols=["state_id", "county_fips"], dtype=str)
    codes["state_fips"] = codes["county_fips"].str.zfill(5).str[:2]
    table = codes.drop_duplicates("state_fips").set_index("state_fips")["state_id"]
    return table.to_dict()


def _race_with_fallback(row, state_race: dict[str, float] | None) -> tuple[dict | None, str]:
    total = num(row.get("pop_total"))
    if not total:
        return None, ""
    known = {cat: num(row.get(col)) for cat, col in RACE_COLUMNS.items()}
    missing = [cat for cat, v in known.items() if v is None]
    if not missing:
        return normalized(known), ""
    if state_race is None:
        return None, ""
    shares = {cat: v / total for cat, v in known.items() if v is not None}
    residual = max(0.0, 1.0 - sum(shares.values()))
    state_missing = sum(state_race[c] for c in missing) or 1.0
    for cat in missing:
        shares[cat] = residual * state_race[cat] / state_missing
    note = f"; {', '.join(missing)} suppressed in ACS: residual split by the state's shares"
    return normalized(shares), note


def _count(value) -> int | None:
    number = num(value)
    return int(number) if number else None


def load_states(data_dir: Path, codes: dict[str, str]) -> list[AreaRecord]:
    frame = pd.read_csv(data_dir / STATES_FILE, dtype={"state_fips": str})
    records = []
    for row in frame.to_dict("records"):
        fips = str(row["state_fips"]).zfill(2)
        state = codes.get(fips)
        if state is None:
            raise ValueError(f"{STATES_FILE}: no USPS code for state FIPS {fips} in {CODES_FILE}")
        source = f"{row['source']} [{STATES_FILE}]"
        record = AreaRecord(
            id=area_slug(row["state"], state, Area.Kind.STATE),
            name=row["state"],
            kind=Area.Kind.STATE,
            state=state,
            state_name=row["state"],
            fips=fips,
            population=int(row["pop_total"]),
            adult_population=_count(row["pop_18plus"]),
            citizens_voting_age=_count(row.get("cvap")),
            county_fips="",
            county_name="",
            source=source,
            year=2018,
        )
        _add_common_marginals(record, row, source, 2018)
        education = _counts_marginal(row, EDUCATION_COLUMNS, num(row.get("pop_25plus")))
        if education:
            record.marginals.append(MarginalRow("education", education, "adults 25+", source, 2018))
        race, _ = _race_with_fallback(row, None)
        if race:
            record.marginals.append(
                MarginalRow("race_ethnicity", race, "all residents", source, 2018)
            )
        _add_indicator(record, row, "median_hh_income", INCOME, 2018, "USD", source)
        _add_indicator(record, row, "unemployment_rate_pct", UNEMPLOYMENT, 2018, "percent", source)
        records.append(record)
    return records


def _add_indicator(record, row, column, indicator, year, unit, source) -> None:
    value = num(row.get(column))
    if value is not None:
        record.indicators.append(IndicatorRow(indicator, year, value, unit, source))


def _add_common_marginals(record: AreaRecord, row: dict, source: str, year: int) -> None:
    adults = num(row.get("pop_18plus"))
    age = _counts_marginal(row, AGE_COLUMNS, adults)
    if age:
        record.marginals.append(MarginalRow("age_bracket", age, "adults 18+", source, year))
    sex = _counts_marginal(row, {"male": "male_18plus", "female": "female_18plus"}, adults)
    if sex:
        record.marginals.append(MarginalRow("sex", sex, "adults 18+", source, year))
    income_raw = {}
    for cat, cols in INCOME_COLUMNS.items():
        values = [num(row.get(c)) for c in cols]
        income_raw[cat] = None if any(v is None for v in values) else sum(values)
    if all(v is not None for v in income_raw.values()) and sum(income_raw.values()) > 0:
        record.marginals.append(
            MarginalRow("income", normalized(income_raw), "households", source, year)
        )


def load_cities(
    data_dir: Path, codes: dict[str, str], states: list[AreaRecord], counties: CountyTables
) -> list[AreaRecord]:
    frame = pd.read_csv(
        data_dir / PLACES_FILE, dtype={"state_fips": str, "place_fips": str, "county_fips": str}
    )
    state_by_fips = {s.fips: s for s in states}
    records = []
    for row in frame.to_dict("records"):
        fips = str(row["state_fips"]).zfill(2)
        state_rec = state_by_fips.get(fips)
        state = codes[fips]
        source = f"{row['source']} [{PLACES_FILE}]"
        county_fips = row["county_fips"] if isinstance(row["county_fips"], str) else ""
        county_name = row["county_name"] if isinstance(row["county_name"], str) else ""
        record = AreaRecord(
            id=area_slug(row["city"], state, Area.Kind.CITY),
            name=row["city"],
            kind=Area.Kind.CITY,
            state=state,
            state_name=row["state_name"],
            fips=f"{fips}{row['place_fips']}",
            population=int(row["pop_total"]),
            adult_population=_count(row["pop_18plus"]),
            citizens_voting_age=_count(row.get("cvap")),
            county_fips=county_fips,
            county_name=county_name,
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
        education, edu_source, edu_year = county_education(
            counties.medsl.get(county_fips),
            edu_state.shares if edu_state else None,
            edu_state.source if edu_state else "",
        )
        if education:
            record.marginals.append(
                MarginalRow("education", education, "adults 25+", edu_source, edu_year)
            )
        _add_indicator(record, row, "median_hh_income", INCOME, 2022, "USD", source)
        geography = county_label(county_fips, county_name, state) if county_fips else ""
        record.indicators += county_unemployment(counties, county_fips, geography)
        if not any(i.indicator == UNEMPLOYMENT for i in record.indicators):
            record.gaps["unemployment_rate"] = (
                "the place files carry no unemployment figure and the city's primary county "
                f"({county_fips or 'none recorded'}) is in neither county file"
            )
        elections, gaps = city_elections(row, state, geography, PLACES_FILE)
        record.elections += elections
        record.gaps.update(gaps)
        records.append(record)
    return records
