"""Presidential results: states 1976-2024, counties and cities 2012-2024.

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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from environment.loaders.counties import MEDSL_FILE, county_label
from environment.loaders.records import AreaRecord, ElectionRow, num

MIT_YEARS = tuple(range(1976, 2021, 4))
STATE_YEARS = (*MIT_YEARS, 2024)
# The derived county shares table's years; 2012 comes from the MEDSL county context file.
SHARES_TABLE_YEARS = (2016, 2020, 2024)
MEDSL_YEAR = 2012
COUNTY_YEARS = (MEDSL_YEAR, *SHARES_TABLE_YEARS)

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
COUNTY_2012 = (
    "MEDSL election-context-2018, county presidential votes 2012 (obama12, romney12, "
    f"otherpres12) from MEDSL's election returns dataverse [{MEDSL_FILE}]"
)
PUERTO_RICO = "Puerto Rico casts no electoral votes; the files hold no presidential results for it"
ALASKA = (
    "Alaska reports presidential results by state-house district, and the county files give "
    "those districts pseudo-FIPS 02001-02040 that collide with real borough codes; no county "
    "or city figure can be matched honestly"
)
ALASKA_2012 = f"{MEDSL_FILE} leaves Alaska out (its codebook says so): no 2012 county figure"
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

# MEDSL county rows that are not the county areas' (ACS 2017) units: {MEDSL FIPS: (state in the
# MEDSL row, area FIPS, what is done)}.
MEDSL_2012_FOLDS = {
    "36000": (
        "Missouri",
        "29095",
        "Kansas City MO (listed apart under MEDSL's pseudo-FIPS 36000) folded into Jackson "
        "County, as the county table does for 2016-2024",
    ),
    "51515": (
        "Virginia",
        "51019",
        "Bedford city (independent until it joined Bedford County in 2013) folded into the county",
    ),
    "46113": (
        "South Dakota",
        "46102",
        "listed under 46113, Shannon County's code before it was renamed Oglala Lakota in 2015",
    ),
}
# The derived shares table keeps Oglala Lakota's 2020 row under the old code as well.
SHARES_TABLE_ALIASES = {"46113": "46102"}


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


@dataclass
class CountyVotes2012:
    """A county's 2012 votes on the county areas' units, and what was done to get them."""

    dem: int
    gop: int
    other: int
    notes: list[str] = field(default_factory=list)

    def row(self, where: str, source: str, geography: str = "") -> ElectionRow | None:
        total = self.dem + self.gop + self.other
        if total <= 0:
            return None
        method = f"{SHARE_OF_TOTAL} in {where} (total = Obama + Romney + other candidates)"
        return ElectionRow(
            year=MEDSL_YEAR,
            dem_share=self.dem / total,
            gop_share=self.gop / total,
            # A county's total is not its cities'.
            total_votes=None if geography else total,
            method="; ".join([method, *self.notes]),
            source=source,
            geography=geography,
        )


def county_elections(
    data_dir: Path, votes_2012: dict[str, CountyVotes2012]
) -> tuple[dict[str, list[ElectionRow]], dict[str, frozenset[int]]]:
    """{county FIPS: results} for 2012 (MEDSL) and 2016-2024 (the derived county shares table),
    and {FIPS: years without a total vote}; Alaska is left out (its rows in the shares table are
    state-house districts under pseudo-FIPS, and MEDSL has none)."""
    table = pd.read_csv(data_dir / COUNTY_SHARES_FILE, dtype={"county_fips": str})
    results: dict[str, list[ElectionRow]] = defaultdict(list)
    no_total: dict[str, set[int]] = defaultdict(set)
    for row in table.to_dict("records"):
        listed = row["county_fips"].zfill(5)
        if listed.startswith("02"):
            continue
        fips = SHARES_TABLE_ALIASES.get(listed, listed)
        for year in SHARES_TABLE_YEARS:
            dem, gop = num(row[f"dem_share_{year}"]), num(row[f"gop_share_{year}"])
            if not _valid_shares(dem, gop):
                if dem is not None:
                    no_total[fips].add(year)
                continue
            if any(r.year == year for r in results[fips]):
                raise ValueError(f"{COUNTY_SHARES_FILE}: two {year} rows for county {fips}")
            total = num(row[f"total_votes_{year}"])
            method = f"{SHARE_OF_TOTAL} in the county"
            if fips != listed:
                method += f"; the table lists it under {listed}, the county's code before 2015"
            results[fips].append(
                ElectionRow(
                    year=year,
                    dem_share=dem,
                    gop_share=gop,
                    total_votes=int(total) if total is not None else None,
                    method=method,
                    source=COUNTY_2024 if year == 2024 else COUNTY_OFFICIAL,
                )
            )
    for fips, votes in votes_2012.items():
        if (row := votes.row("the county", COUNTY_2012)) is not None:
            results[fips].append(row)
    return results, {fips: frozenset(years) for fips, years in no_total.items()}


def county_votes_2012(data_dir: Path) -> dict[str, CountyVotes2012]:
    """{county FIPS: 2012 votes} from MEDSL's county file, on the county areas' units and
    checked against the official state rows."""
    medsl = pd.read_csv(
        data_dir / MEDSL_FILE,
        dtype={"fips": str},
        usecols=["state", "fips", "obama12", "romney12", "otherpres12"],
    )
    medsl["fips"] = medsl["fips"].str.zfill(5)
    if medsl["fips"].duplicated().any():
        raise ValueError(f"{MEDSL_FILE}: a county FIPS appears twice")
    state_of = dict(zip(medsl["fips"], medsl["state"], strict=True))
    votes = {
        fips: CountyVotes2012(int(d), int(r), int(o))
        for fips, d, r, o in zip(
            medsl["fips"], medsl["obama12"], medsl["romney12"], medsl["otherpres12"], strict=True
        )
    }
    for listed, (state, fips, why) in MEDSL_2012_FOLDS.items():
        if state_of.get(listed) != state:
            raise ValueError(f"{MEDSL_FILE}: expected a {state} row under {listed}")
        part = votes.pop(listed)
        whole = votes.setdefault(fips, CountyVotes2012(0, 0, 0))
        whole.dem, whole.gop, whole.other = (
            whole.dem + part.dem,
            whole.gop + part.gop,
            whole.other + part.other,
        )
        whole.notes.append(why)
        state_of[fips] = state

    by_state: dict[str, list[CountyVotes2012]] = defaultdict(list)
    for fips, county in votes.items():
        by_state[state_of[fips].upper()].append(county)
    for (year, _), rows in state_file_rows(data_dir).items():
        if year != MEDSL_YEAR:
            continue
        counties = by_state.get(rows[0]["state"], [])
        line = {
            party: sum(int(r["candidatevotes"]) for r in rows if r["party_simplified"] == party)
            for party in (DEM, GOP)
        }
        _unswap(counties, line[DEM], line[GOP])
        if nominee_votes(rows)[1]:
            # MEDSL's county figures sum to the state file's party-line rows, so the nominees'
            # votes on other lines (New York's fusion tickets) sit in otherpres12.
            for county in counties:
                county.notes.append(
                    "Obama and Romney counted on their own party's line only (their "
                    "fusion-line votes are in the file's other column)"
                )
    return votes


def _unswap(counties: list[CountyVotes2012], state_dem: int, state_gop: int) -> None:
    """Exchange a county's Democratic and Republican votes where the state file proves them
    swapped: the state's county sums miss its official Democratic votes by exactly what they
    exceed its Republican votes, and by exactly one county's Romney - Obama difference
    (Lackawanna PA 2012)."""
    short = state_dem - sum(c.dem for c in counties)
    if not short or sum(c.gop for c in counties) - state_gop != short:
        return
    culprits = [c for c in counties if c.gop - c.dem == short]
    if len(culprits) != 1:
        return
    county = culprits[0]
    dem, gop = county.dem, county.gop
    county.dem, county.gop = gop, dem
    county.notes.append(
        f"the file swaps Obama's and Romney's votes here ({dem:,} and {gop:,}): exchanged, "
        f"which makes the state's county sums equal {STATE_RESULTS_FILE}'s rows exactly"
    )


# --- gaps and cities --------------------------------------------------------------------------


def election_gap_reason(state: str, year: int, file: str, *, no_total: bool = False) -> str:
    if no_total:
        return NO_TOTAL.format(year=year)
    if state == "PR":
        return PUERTO_RICO
    if state == "AK":
        return ALASKA_2012 if year == MEDSL_YEAR else ALASKA
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
            state,
            year,
            MEDSL_FILE if year == MEDSL_YEAR else COUNTY_SHARES_FILE,
            no_total=year in no_total,
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


def city_election_2012(
    city: AreaRecord, votes_2012: dict[str, CountyVotes2012], file: str
) -> tuple[list[ElectionRow], dict[str, str]]:
    """A city's 2012 result is its primary county's, as for the later years."""
    county = votes_2012.get(city.county_fips) if city.county_fips else None
    row = county and county.row(
        "the city's primary county",
        f"{COUNTY_2012.split(' [')[0]}, joined to the place by its primary county ({file}) "
        f"[{MEDSL_FILE}]",
        geography=county_label(city.county_fips, city.county_name, city.state),
    )
    if not row:
        reason = election_gap_reason(city.state, MEDSL_YEAR, MEDSL_FILE)
        return [], {f"election_{MEDSL_YEAR}": reason}
    return [row], {}
