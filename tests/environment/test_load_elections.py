"""Presidential results as loaded, checked against the rows of the files themselves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from django.db.models import Count

from environment.loaders.elections import state_file_rows, state_year_result
from environment.models import Area, DataGap, ElectionResult

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[2] / "environment" / "data"
PRESIDENTIAL_YEARS = list(range(1976, 2025, 4))
# MEDSL rows that are folded into another county area rather than being one: Kansas City MO
# (pseudo-FIPS 36000, into Jackson County) and Bedford city VA (into Bedford County in 2013).
MEDSL_FOLDED = ["36000", "51515"]


@pytest.fixture(scope="module")
def mit() -> pd.DataFrame:
    return pd.read_csv(DATA / "mit_1976-2020-president.csv")


@pytest.fixture(scope="module")
def medsl() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "medsl_election-context-2018.csv", dtype={"fips": str})
    frame["fips"] = frame["fips"].str.zfill(5)
    frame["total12"] = frame[["obama12", "romney12", "otherpres12"]].sum(axis=1)
    return frame


def _per_year(kind: str) -> dict[int, int]:
    rows = ElectionResult.objects.filter(area__kind=kind).values("year").annotate(n=Count("id"))
    return {r["year"]: r["n"] for r in rows}


def _result(area_id: str, year: int) -> ElectionResult:
    return ElectionResult.objects.get(area_id=area_id, year=year)


def test_every_state_and_dc_has_every_presidential_year_from_1976(mit):
    assert mit["state_po"].nunique() == 51
    assert _per_year("state") == dict.fromkeys(PRESIDENTIAL_YEARS, 51)


def test_puerto_rico_has_a_reason_for_every_year_and_no_result():
    assert not ElectionResult.objects.filter(area_id="puerto_rico_state").exists()
    gaps = DataGap.objects.filter(area_id="puerto_rico_state", figure__startswith="election_")
    assert gaps.count() == len(PRESIDENTIAL_YEARS)
    assert all("Puerto Rico" in g.reason for g in gaps)


def test_counties_have_2012_wherever_medsl_has_them(medsl):
    per_year = _per_year("county")
    assert set(per_year) == {2012, 2016, 2020, 2024}
    assert per_year[2012] == len(medsl) - len(MEDSL_FOLDED)
    with_2012 = set(
        ElectionResult.objects.filter(year=2012, area__kind="county").values_list("area")
    )
    with_2016 = set(
        ElectionResult.objects.filter(year=2016, area__kind="county").values_list("area")
    )
    assert with_2012 == with_2016  # the same counties: Alaska, Puerto Rico and Kalawao lack both


def test_cities_have_2012_wherever_they_have_2016():
    per_year = _per_year("city")
    # Alaska's and Puerto Rico's cities have no county figure in any year.
    matched = Area.objects.filter(kind="city").exclude(state__in=["AK", "PR"]).count()
    assert per_year[2012] == per_year[2016] == matched
    assert (
        "leaves Alaska out"
        in DataGap.objects.get(area_id="anchorage_ak_city", figure="election_2012").reason
    )


def test_ohio_2012_share_is_the_party_rows_over_the_state_total(mit):
    rows = mit[(mit["year"] == 2012) & (mit["state_po"] == "OH")]
    total = rows["totalvotes"].max()
    votes = rows.groupby("party_simplified")["candidatevotes"].sum()
    result = _result("ohio_state", 2012)
    assert result.total_votes == total
    assert result.dem_share == pytest.approx(votes["DEMOCRAT"] / total)
    assert result.gop_share == pytest.approx(votes["REPUBLICAN"] / total)
    assert "statewide" in result.method and "[mit_1976-2020-president.csv]" in result.source


def test_minnesota_democratic_farmer_labor_votes_count_as_democratic(mit):
    rows = mit[(mit["year"] == 2000) & (mit["state_po"] == "MN")]
    dfl = rows.loc[rows["party_detailed"] == "DEMOCRATIC-FARMER-LABOR", "candidatevotes"].sum()
    assert dfl > 0
    assert _result("minnesota_state", 2000).dem_share == pytest.approx(
        dfl / rows["totalvotes"].max()
    )


def test_write_ins_coded_to_a_party_count_once_for_it(mit):
    rows = mit[(mit["year"] == 2016) & (mit["state_po"] == "MD")]
    clinton = rows[rows["party_simplified"] == "DEMOCRAT"]
    assert len(clinton) == 2  # the ballot line and the write-ins
    result = _result("maryland_state", 2016)
    assert result.dem_share == pytest.approx(
        clinton["candidatevotes"].sum() / rows["totalvotes"].max()
    )


def test_new_york_nominees_get_their_fusion_line_votes_once(mit):
    rows = mit[(mit["year"] == 2012) & (mit["state_po"] == "NY")]
    total = rows["totalvotes"].max()
    for party, field in [("DEMOCRAT", "dem_share"), ("REPUBLICAN", "gop_share")]:
        nominee = rows.loc[rows["party_simplified"] == party, "candidate"].item()
        on_every_line = rows.loc[rows["candidate"] == nominee, "candidatevotes"]
        assert len(on_every_line) == 2  # the party's own line and one fusion line
        assert getattr(_result("new_york_state", 2012), field) == pytest.approx(
            on_every_line.sum() / total
        )
    assert "fusion lines" in _result("new_york_state", 2012).method


def test_texas_2000_republican_row_that_exceeds_the_total_is_corrected_and_says_so(mit):
    rows = mit[(mit["year"] == 2000) & (mit["state_po"] == "TX")]
    total = rows["totalvotes"].max()
    excess = rows["candidatevotes"].sum() - total
    gop = rows.loc[rows["party_simplified"] == "REPUBLICAN", "candidatevotes"].item()
    assert gop > total  # what the file says: one candidate above every vote cast
    result = _result("texas_state", 2000)
    assert result.gop_share == pytest.approx((gop - excess) / total)
    assert result.dem_share + result.gop_share <= 1
    assert "alone exceeds the total" in result.method


def test_a_state_year_off_its_total_with_no_single_culprit_is_refused_with_a_reason():
    rows = [
        {"candidate": "A", "party_simplified": "DEMOCRAT", "party_detailed": "DEMOCRAT",
         "writein": False, "candidatevotes": 60, "totalvotes": 100},
        {"candidate": "B", "party_simplified": "REPUBLICAN", "party_detailed": "REPUBLICAN",
         "writein": False, "candidatevotes": 60, "totalvotes": 100},
    ]  # fmt: skip
    reason = state_year_result(rows, 1984, pd.DataFrame())
    assert isinstance(reason, str) and "+20 off its own total" in reason


def test_wayne_county_2012_is_obama_over_all_three_medsl_columns(medsl):
    row = medsl[medsl["fips"] == "26163"].iloc[0]
    result = _result("wayne_mi_county", 2012)
    assert result.dem_share == pytest.approx(row["obama12"] / row["total12"])
    assert result.gop_share == pytest.approx(row["romney12"] / row["total12"])
    assert result.total_votes == row["total12"]
    assert "medsl_election-context-2018.csv" in result.source


def test_detroit_2012_is_its_primary_county_and_says_so():
    city, county = _result("detroit_mi_city", 2012), _result("wayne_mi_county", 2012)
    assert city.dem_share == county.dem_share and city.total_votes is None
    assert "Wayne" in city.geography and "primary county" in city.method


def test_kansas_city_is_folded_into_jackson_county_for_2012_as_for_later_years(medsl):
    parts = medsl[medsl["fips"].isin(["29095", "36000"])]
    assert set(parts["state"]) == {"Missouri"}
    result = _result("jackson_mo_county", 2012)
    assert result.total_votes == parts["total12"].sum()
    assert result.dem_share == pytest.approx(parts["obama12"].sum() / parts["total12"].sum())
    assert "Kansas City" in result.method


def test_lackawanna_2012_swapped_votes_are_exchanged_because_the_state_rows_prove_it(mit, medsl):
    row = medsl[medsl["fips"] == "42069"].iloc[0]
    assert row["romney12"] > row["obama12"]  # as the file has it
    result = _result("lackawanna_pa_county", 2012)
    assert result.dem_share == pytest.approx(row["romney12"] / row["total12"])
    assert "swaps" in result.method
    # With the exchange, Pennsylvania's county votes add up to its official state rows.
    state = mit[(mit["year"] == 2012) & (mit["state_po"] == "PA")]
    official = state.groupby("party_simplified")["candidatevotes"].sum()
    counties = ElectionResult.objects.filter(year=2012, area__kind="county", area__state="PA")
    assert round(sum(c.dem_share * c.total_votes for c in counties)) == official["DEMOCRAT"]
    assert round(sum(c.gop_share * c.total_votes for c in counties)) == official["REPUBLICAN"]


def test_new_york_county_2012_figures_say_they_miss_the_fusion_lines():
    assert (
        "fusion-line votes are in the file's other column"
        in _result("kings_ny_county", 2012).method
    )


def test_oglala_lakota_gets_its_2020_row_listed_under_shannon_countys_old_code():
    assert "46113" in _result("oglala_lakota_sd_county", 2020).method
    assert "46113" in _result("oglala_lakota_sd_county", 2012).method


def test_every_stored_text_fits_its_column():
    # SQLite ignores a CharField's length; PostgreSQL refuses the row.
    for field in ("method", "source", "geography"):
        limit = ElectionResult._meta.get_field(field).max_length
        longest = max(ElectionResult.objects.values_list(field, flat=True), key=len)
        assert len(longest) <= limit, (field, longest)
    reasons = DataGap.objects.values_list("reason", flat=True)
    assert len(max(reasons, key=len)) <= DataGap._meta.get_field("reason").max_length


def test_state_file_rows_group_every_row_once(mit):
    grouped = state_file_rows(DATA)
    assert sum(len(rows) for rows in grouped.values()) == len(mit)
    assert len(grouped) == 51 * 12
