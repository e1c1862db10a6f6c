"""Presidential results 2016, 2020 and 2024 for states, counties and cities.

Every share is of all presidential votes cast (Democratic votes / total, Republican votes / total),
so the two shares and third-party votes add up to the total; a two-party share is derived from them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pandas as pd

from environment.loaders.records import ElectionRow, num

ELECTION_YEARS = (2016, 2020, 2024)
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


def _valid_shares(dem: float | None, gop: float | None) -> bool:
    # A zero total in the derived table turns the shares into infinities.
    return (
        dem is not None
        and gop is not None
        and math.isfinite(dem)
        and math.isfinite(gop)
        and dem + gop <= 1.000001
    )


def state_elections(data_dir: Path) -> dict[str, list[ElectionRow]]:
    """{USPS code: results}: MIT official for 2016/2020, the 2024 county scrape summed per state."""
    mit = pd.read_csv(data_dir / STATE_RESULTS_FILE)
    mit = mit[mit["year"].isin(ELECTION_YEARS)]
    results: dict[str, list[ElectionRow]] = defaultdict(list)
    counties = pd.read_csv(data_dir / COUNTY_SHARES_FILE, dtype={"county_fips": str})
    counties["state_fips"] = counties["county_fips"].str.zfill(5).str[:2].astype(int)
    for (year, state, state_fips), group in mit.groupby(["year", "state_po", "state_fips"]):
        # Every candidate row of a state and year repeats the same total; write-in votes for a
        # party's candidate (MD, AZ 2016) count for that party.
        total = int(group["totalvotes"].max())
        votes = group.groupby("party_simplified")["candidatevotes"].sum()
        excess = int(group["candidatevotes"].sum()) - total
        if excess == 0:
            results[state].append(
                ElectionRow(
                    year=int(year),
                    dem_share=float(votes.get("DEMOCRAT", 0)) / total,
                    gop_share=float(votes.get("REPUBLICAN", 0)) / total,
                    total_votes=total,
                    method=f"{SHARE_OF_TOTAL} statewide (candidate votes by party / total votes)",
                    source=STATE_OFFICIAL,
                )
            )
            continue
        # A state row that contradicts its own total (Texas 2020) is rebuilt from the official
        # county returns rather than trusted.
        part = counties[counties["state_fips"] == state_fips]
        totals = part[f"total_votes_{year}"]
        county_total = float(totals.sum())
        results[state].append(
            ElectionRow(
                year=int(year),
                dem_share=float((part[f"dem_share_{year}"] * totals).sum()) / county_total,
                gop_share=float((part[f"gop_share_{year}"] * totals).sum()) / county_total,
                total_votes=round(county_total),
                method=(
                    f"{SHARE_OF_TOTAL} statewide, summed from the county returns (county share "
                    f"x county total) because {STATE_RESULTS_FILE} lists candidate votes "
                    f"{excess:+,} off its own total for this state and year"
                ),
                source=COUNTY_OFFICIAL,
            )
        )
    scrape = pd.read_csv(data_dir / COUNTY_2024_FILE, dtype={"county_fips": str})
    codes = dict(zip(mit["state"].str.title(), mit["state_po"], strict=False))
    codes["District of Columbia"] = "DC"
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
    return results


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
        for year in ELECTION_YEARS:
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


def county_election_gaps(
    state: str, results: list[ElectionRow], file: str, *, no_total: frozenset = frozenset()
) -> dict[str, str]:
    have = {r.year for r in results}
    return {
        f"election_{year}": election_gap_reason(state, year, file, no_total=year in no_total)
        for year in ELECTION_YEARS
        if year not in have
    }


def city_elections(
    row: dict, state: str, geography: str, file: str
) -> tuple[list[ElectionRow], dict[str, str]]:
    """A city's results are its primary county's, as the places file carries them."""
    results, gaps = [], {}
    for year in ELECTION_YEARS:
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
