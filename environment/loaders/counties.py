"""Counties from the ACS 2017 5-year county profile and MEDSL's ACS 2012-16 county context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from environment.loaders.records import (
    AreaRecord,
    IndicatorRow,
    MarginalRow,
    area_slug,
    normalized,
    num,
)
from environment.models import Area, EconomicIndicator

MEDSL_FILE = "medsl_election-context-2018.csv"
ACS2017_FILE = "kaggle_acs2017_county_data.csv"
ACS2017_SOURCE = f"ACS 2013-2017 5-year county profile (Kaggle 'US census 2017') [{ACS2017_FILE}]"
MEDSL_SOURCE = f"MEDSL election-context-2018, ACS 2012-2016 5-year [{MEDSL_FILE}]"

INCOME = EconomicIndicator.Indicator.MEDIAN_HOUSEHOLD_INCOME
UNEMPLOYMENT = EconomicIndicator.Indicator.UNEMPLOYMENT_RATE


@dataclass(frozen=True)
class CountyTables:
    """The two county files, each as {5-digit FIPS: row}."""

    medsl: dict[str, dict]
    acs2017: dict[str, dict]


def county_tables(data_dir: Path) -> CountyTables:
    medsl = pd.read_csv(data_dir / MEDSL_FILE, dtype={"fips": str})
    medsl["fips"] = medsl["fips"].str.zfill(5)
    acs = pd.read_csv(data_dir / ACS2017_FILE, dtype={"CountyId": str})
    acs["CountyId"] = acs["CountyId"].str.zfill(5)
    return CountyTables(
        medsl=medsl.set_index("fips", drop=False).to_dict("index"),
        acs2017=acs.set_index("CountyId", drop=False).to_dict("index"),
    )


def county_label(fips: str, name: str, state: str) -> str:
    return f"primary county {name}, {state} (FIPS {fips})"


def county_unemployment(tables: CountyTables, fips: str, geography: str = "") -> list:
    """The county's unemployment rate in both ACS periods the county files cover."""
    rows = []
    medsl = tables.medsl.get(fips)
    if medsl and num(medsl.get("clf_unemploy_pct")) is not None:
        value = num(medsl["clf_unemploy_pct"])
        rows.append(IndicatorRow(UNEMPLOYMENT, 2016, value, "percent", MEDSL_SOURCE, geography))
    acs = tables.acs2017.get(fips)
    if acs and num(acs.get("Unemployment")) is not None:
        value = num(acs["Unemployment"])
        rows.append(IndicatorRow(UNEMPLOYMENT, 2017, value, "percent", ACS2017_SOURCE, geography))
    return rows


def county_education(
    county: dict | None, state_education: dict[str, float] | None, state_source: str
) -> tuple[dict | None, str, int]:
    """Five education levels from MEDSL's three county levels, split by the state's ratios."""
    if state_education is None:
        return None, "", 0
    if county is None:
        return (
            dict(state_education),
            f"state shares (county not in {MEDSL_FILE}): {state_source}",
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
        f"[{MEDSL_FILE}]; split to five levels by the state's ratios: {state_source}"
    )
    return normalized(shares), source, 2016


def _county_id(name: str, state: str) -> str:
    # "Wayne County" -> wayne_mi_county; parishes, boroughs and independent cities keep their
    # suffix ("baltimore_city_md_county"), which keeps Baltimore city apart from Baltimore County.
    base = name[: -len(" County")] if name.endswith(" County") else name
    return area_slug(base, state, Area.Kind.COUNTY)


def _race(row: dict) -> dict[str, float] | None:
    # The profile's race columns are percentages of all residents, non-Hispanic by race; what
    # they leave of 100 (Native, Pacific, other, two or more) is "other".
    known = {
        cat: num(row.get(col))
        for cat, col in [
            ("white", "White"),
            ("black", "Black"),
            ("hispanic", "Hispanic"),
            ("asian", "Asian"),
        ]
    }
    if any(v is None for v in known.values()):
        return None
    known["other"] = max(0.0, 100.0 - sum(known.values()))
    return normalized(known)


COUNTY_GAPS = {
    "age_distribution": (
        "the county files give only the shares of all residents under 30 and 65+ (MEDSL), "
        "not the adult age brackets"
    ),
    "income_distribution": "the county files give the median household income, not brackets",
    "adults": "the county files count citizens of voting age, not all adults",
}


def load_counties(
    data_dir: Path, codes: dict[str, str], states: list[AreaRecord], tables: CountyTables
) -> list[AreaRecord]:
    state_by_fips = {s.fips: s for s in states}
    records = []
    for fips, row in sorted(tables.acs2017.items()):
        state_rec = state_by_fips.get(fips[:2])
        state = codes.get(fips[:2])
        if state is None or state_rec is None:
            raise ValueError(f"{ACS2017_FILE}: county {fips} has no state in the state files")
        record = AreaRecord(
            id=_county_id(row["County"], state),
            name=row["County"],
            kind=Area.Kind.COUNTY,
            state=state,
            state_name=row["State"],
            fips=fips,
            population=int(row["TotalPop"]),
            adult_population=None,
            citizens_voting_age=_count(row.get("VotingAgeCitizen")),
            county_fips=fips,
            county_name=row["County"],
            source=ACS2017_SOURCE,
            year=2017,
        )
        race = _race(row)
        if race:
            record.marginals.append(
                MarginalRow("race_ethnicity", race, "all residents", ACS2017_SOURCE, 2017)
            )
        men, women = num(row.get("Men")), num(row.get("Women"))
        if men is not None and women is not None and men + women > 0:
            record.marginals.append(
                MarginalRow(
                    "sex",
                    normalized({"male": men, "female": women}),
                    "all residents (the file has no adult sex table)",
                    ACS2017_SOURCE,
                    2017,
                )
            )
        state_edu = next((m for m in state_rec.marginals if m.dimension == "education"), None)
        education, edu_source, edu_year = county_education(
            tables.medsl.get(fips),
            state_edu.shares if state_edu else None,
            state_edu.source if state_edu else "",
        )
        if education:
            record.marginals.append(
                MarginalRow("education", education, "adults 25+", edu_source, edu_year)
            )
        medsl = tables.medsl.get(fips)
        if medsl and num(medsl.get("median_hh_inc")) is not None:
            record.indicators.append(
                IndicatorRow(INCOME, 2016, num(medsl["median_hh_inc"]), "USD", MEDSL_SOURCE)
            )
        if num(row.get("Income")) is not None:
            record.indicators.append(
                IndicatorRow(INCOME, 2017, num(row["Income"]), "USD", ACS2017_SOURCE)
            )
        record.indicators += county_unemployment(tables, fips)
        record.gaps.update(COUNTY_GAPS)
        records.append(record)
    return records


def _count(value) -> int | None:
    number = num(value)
    return int(number) if number else None
