"""Presidential results: states 1976-2024, counties and cities 2016-2024.

Every share is of all presidential votes cast (Democratic votes / total, Republican votes / total),
so the two shares and third-party votes add up to the total; a two-party share is derived from them.
A party's votes are its nominee's: the rows the state file codes to the party (Minnesota's
Democratic-Farmer-Labor line, write-ins coded to the party) plus the nominee's votes on other
parties' ballot lines (New York's fusion tickets), each row counted once.
"""

from __future__ import annotations

import math
import re
import string
from collections import defaultdict
from pathlib import Path

import pandas as pd

from environment.loaders.records import ElectionRow, num

MIT_YEARS = tuple(range(1976, 2021, 4))
STATE_YEARS = (*MIT_YEARS, 2024)
# The derived county shares table's years.
SHARES_TABLE_YEARS = (2016, 2020, 2024)
COUNTY_YEARS = SHARES_TABLE_YEARS

STATE_RESULTS_FILE = "mit_1976-2020-president.csv"
COUNTY_2024_FILE = "tonmcg_2024_US_County_Level_Presidential_Results.csv"
COUNTY_SHARES_FILE = "county_pres_shares_2016_2020_2024.csv"

SHARE_OF_TOTAL = "share of all presidential votes cast"
STATE_OFFICIAL = (
    "MIT Election Data + Science Lab, state presidential returns 1976-2020 (official) "
    f"[{STATE_RESULTS_FILE}]"
)
STATE_2024 = (
    "tonmcg county results 2024 scraped from Fox News (unofficial), summed per state "
    f"[{COUNTY_2024_FILE}]"
)
COUNTY_OFFICIAL = (
    "MIT Election Lab countypres via the derived county shares table (official; Kansas City MO "
    f"folded into Jackson County) [{COUNTY_SHARES_FILE}]"
)
COUNTY_2024 = (
    "tonmcg 2024 county results scraped from Fox News (unofficial) via the derived county "
    f"shares table [{COUNTY_SHARES_FILE}]"
)
PUERTO_RICO = "Puerto Rico casts no electoral votes; the files hold no presidential results for it"
ALASKA = (
    "Alaska reports presidential results by state-house district, and the county files give "
    "those districts pseudo-FIPS 02001-02040 that collide with real borough codes; no county "
    "or city figure can be matched honestly"
)
CONNECTICUT_2024 = (
    "Connecticut's 2024 results are reported by the planning regions that replaced its "
    "counties in 2022; they do not map onto the old county"
)
NO_TOTAL = (
    "the county shares table has no total vote for this county in {year} (MIT Election Lab lists "
    "it as NA, e.g. San Joaquin CA 2020), so no share can be computed"
)

DEM, GOP = "DEMOCRAT", "REPUBLICAN"
# Rows of the state file for ballots without a valid presidential vote (some merged with scattered
# write-ins); a few states report them and the file's total counts them, so the shares do too.
NOT_A_VOTE = re.compile(r"\b(?:BLANK|VOID|OVER ?VOTES?|UNDER ?VOTES?)\b")


def _valid_shares(dem: float | None, gop: float | None) -> bool:
    # A zero total in the derived table turns the shares into infinities.
    return (
        dem is not None
        and gop is not None
        and math.isfinite(dem)
        and math.isfinite(gop)
        and dem + gop <= 1.000001
    )


# --- states -----------------------------------------------------------------------------------


def state_file_rows(data_dir: Path) -> dict[tuple[int, str], list[dict]]:
    """{(year, USPS code): the state file's rows, one per candidate and ballot line}."""
    mit = pd.read_csv(data_dir / STATE_RESULTS_FILE)
    grouped: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in mit.to_dict("records"):
        row["candidate"] = row["candidate"] if isinstance(row["candidate"], str) else ""
        row["writein"] = str(row["writein"]).upper() == "TRUE"
        grouped[int(row["year"]), row["state_po"]].append(row)
    return grouped


def nominee_votes(rows: list[dict]) -> tuple[dict[str, int], list[str]]:
    """{party: votes} for each major party's nominee in one state and year, and what was added
    from other ballot lines (fusion). Each row counts once, for at most one party."""
    votes, fusion_notes = {}, []
    for party in (DEM, GOP):
        own = [r for r in rows if r["party_simplified"] == party]
        nominees = {r["candidate"] for r in own if r["candidate"] and not r["writein"]}
        fusion = [
            r
            for r in rows
            if r["party_simplified"] not in (DEM, GOP) and r["candidate"] in nominees
        ]
        votes[party] = sum(int(r["candidatevotes"]) for r in own + fusion)
        if fusion:
            lines = ", ".join(
                f"{string.capwords(str(r['party_detailed']).lower())} {int(r['candidatevotes']):,}"
                for r in fusion
            )
            fusion_notes.append(f"{party.title()}: {lines}")
    return votes, fusion_notes


def _state_method(rows: list[dict], fusion: list[str]) -> str:
    method = f"{SHARE_OF_TOTAL} statewide (candidate votes by party / total votes)"
    if fusion:
        method += f"; plus the nominees' fusion lines: {'; '.join(fusion)}"
    not_votes = sum(int(r["candidatevotes"]) for r in rows if NOT_A_VOTE.search(r["candidate"]))
    if not_votes:
        method += f"; the total counts {not_votes:,} in rows labelled blank, void, over or under"
    return method


def state_year_result(rows: list[dict], year: int, counties: pd.DataFrame) -> ElectionRow | str:
    """One state's result in one year of the state file, or why there is none."""
    # Every candidate row of a state and year repeats the same total.
    total = max(int(r["totalvotes"]) for r in rows)
    excess = sum(int(r["candidatevotes"]) for r in rows) - total
    if excess == 0:
        votes, fusion = nominee_votes(rows)
        return ElectionRow(
            year=year,
            dem_share=votes[DEM] / total,
            gop_share=votes[GOP] / total,
            total_votes=total,
            method=_state_method(rows, fusion),
            source=STATE_OFFICIAL,
        )
    off = f"{STATE_RESULTS_FILE} lists candidate votes {excess:+,} off its own total"
    if year in SHARES_TABLE_YEARS and len(counties):
        # A state row that contradicts its own total (Texas 2020) is rebuilt from the official
        # county returns rather than trusted.
        totals = counties[f"total_votes_{year}"]
        county_total = float(totals.sum())
        return ElectionRow(
            year=year,
            dem_share=float((counties[f"dem_share_{year}"] * totals).sum()) / county_total,
            gop_share=float((counties[f"gop_share_{year}"] * totals).sum()) / county_total,
            total_votes=round(county_total),
            method=(
                f"{SHARE_OF_TOTAL} statewide, summed from the county returns (county share x "
                f"county total) because {off} for this state and year"
            ),
            source=COUNTY_OFFICIAL,
        )
    # Without county returns, a single row that alone exceeds the state's total (Texas 2000's
    # Republican row, 6,000,000 too many) is the wrong figure: the excess comes off it.
    impossible = [r for r in rows if r["candidatevotes"] > total]
    if len(impossible) == 1 and impossible[0]["candidatevotes"] - excess >= 0:
        wrong = impossible[0]
        fixed = [
            r if r is not wrong else {**r, "candidatevotes": r["candidatevotes"] - excess}
            for r in rows
        ]
        votes, fusion = nominee_votes(fixed)
        return ElectionRow(
            year=year,
            dem_share=votes[DEM] / total,
            gop_share=votes[GOP] / total,
            total_votes=total,
            method=(
                f"{SHARE_OF_TOTAL} statewide; {off}, and its "
                f"{str(wrong['party_simplified']).title()} row ({int(wrong['candidatevotes']):,}) "
                f"alone exceeds the total ({total:,}), so the excess is taken off that row"
            ),
            source=STATE_OFFICIAL,
        )
    return f"{off} for {year} and nothing in the files says which figure is wrong"


def state_elections(
    data_dir: Path,
) -> tuple[dict[str, list[ElectionRow]], dict[str, dict[str, str]]]:
    """{USPS code: results}: MIT official for 1976-2020, the 2024 county scrape summed per state;
    and {USPS code: {figure: why}} for a state year the files contradict beyond repair."""
    results: dict[str, list[ElectionRow]] = defaultdict(list)
    gaps: dict[str, dict[str, str]] = defaultdict(dict)
    counties = pd.read_csv(data_dir / COUNTY_SHARES_FILE, dtype={"county_fips": str})
    county_state = counties["county_fips"].str.zfill(5).str[:2].astype(int)
    codes = {"District of Columbia": "DC"}
    for (year, state), rows in state_file_rows(data_dir).items():
        codes.setdefault(rows[0]["state"].title(), state)
        result = state_year_result(rows, year, counties[county_state == rows[0]["state_fips"]])
        if isinstance(result, ElectionRow):
            results[state].append(result)
        else:
            gaps[state][f"election_{year}"] = result
    scrape = pd.read_csv(data_dir / COUNTY_2024_FILE, dtype={"county_fips": str})
    sums = scrape.groupby("state_name")[["votes_dem", "votes_gop", "total_votes"]].sum()
    for state_name, row in sums.iterrows():
        state = codes.get(state_name)
        if state is None:
            raise ValueError(f"{COUNTY_2024_FILE}: unknown state {state_name!r}")
        total = int(row["total_votes"])
        results[state].append(
            ElectionRow(
                year=2024,
                dem_share=float(row["votes_dem"]) / total,
                gop_share=float(row["votes_gop"]) / total,
                total_votes=total,
                method=(
                    f"{SHARE_OF_TOTAL} statewide: the county votes for each party and the "
                    "county totals summed over the state"
                ),
                source=STATE_2024,
            )
        )
    return results, gaps


# --- counties ---------------------------------------------------------------------------------


def county_elections(
    data_dir: Path,
) -> tuple[dict[str, list[ElectionRow]], dict[str, frozenset[int]]]:
    """{county FIPS: results} from the derived county shares table, and {FIPS: years without a
    total vote}; Alaska is left out (its rows are state-house districts under pseudo-FIPS)."""
    table = pd.read_csv(data_dir / COUNTY_SHARES_FILE, dtype={"county_fips": str})
    results: dict[str, list[ElectionRow]] = defaultdict(list)
    no_total: dict[str, set[int]] = defaultdict(set)
    for row in table.to_dict("records"):
        fips = row["county_fips"].zfill(5)
        if fips.startswith("02"):
            continue
        for year in SHARES_TABLE_YEARS:
            dem, gop = num(row[f"dem_share_{year}"]), num(row[f"gop_share_{year}"])
            if not _valid_shares(dem, gop):
                if dem is not None:
                    no_total[fips].add(year)
                continue
            total = num(row[f"total_votes_{year}"])
            results[fips].append(
                ElectionRow(
                    year=year,
                    dem_share=dem,
                    gop_share=gop,
                    total_votes=int(total) if total is not None else None,
                    method=f"{SHARE_OF_TOTAL} in the county",
                    source=COUNTY_2024 if year == 2024 else COUNTY_OFFICIAL,
                )
            )
    return results, {fips: frozenset(years) for fips, years in no_total.items()}


# --- gaps and cities --------------------------------------------------------------------------


def election_gap_reason(state: str, year: int, file: str, *, no_total: bool = False) -> str:
    if no_total:
        return NO_TOTAL.format(year=year)
    if state == "PR":
        return PUERTO_RICO
    if state == "AK":
        return ALASKA
    if state == "CT" and year == 2024:
        return CONNECTICUT_2024
    return f"{file} has no {year} presidential result for this area"


def state_election_gaps(
    state: str, results: list[ElectionRow], refused: dict[str, str]
) -> dict[str, str]:
    have = {r.year for r in results}
    gaps = {}
    for year in STATE_YEARS:
        if year in have:
            continue
        file = COUNTY_2024_FILE if year == 2024 else STATE_RESULTS_FILE
        gaps[f"election_{year}"] = refused.get(f"election_{year}") or (
            PUERTO_RICO if state == "PR" else f"{file} has no {year} presidential result"
        )
    return gaps


def county_election_gaps(
    state: str, results: list[ElectionRow], *, no_total: frozenset = frozenset()
) -> dict[str, str]:
    have = {r.year for r in results}
    return {
        f"election_{year}": election_gap_reason(
            state, year, COUNTY_SHARES_FILE, no_total=year in no_total
        )
        for year in COUNTY_YEARS
        if year not in have
    }


def city_elections(
    row: dict, state: str, geography: str, file: str
) -> tuple[list[ElectionRow], dict[str, str]]:
    """A city's 2016-2024 results are its primary county's, as the places file carries them."""
    results, gaps = [], {}
    for year in SHARES_TABLE_YEARS:
        dem, gop = num(row.get(f"dem_share_{year}")), num(row.get(f"gop_share_{year}"))
        if state in ("AK", "PR") or not _valid_shares(dem, gop) or not geography:
            no_total = dem is not None and not _valid_shares(dem, gop)
            gaps[f"election_{year}"] = election_gap_reason(state, year, file, no_total=no_total)
            continue
        results.append(
            ElectionRow(
                year=year,
                dem_share=dem,
                gop_share=gop,
                # The county's total is not the city's, so none is given.
                total_votes=None,
                method=f"{SHARE_OF_TOTAL} in the city's primary county",
                source=(
                    f"{(COUNTY_2024 if year == 2024 else COUNTY_OFFICIAL).split(' [')[0]}, "
                    f"joined to the place by its primary county [{file}]"
                ),
                geography=geography,
            )
        )
    return results, gaps
