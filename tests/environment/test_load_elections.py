"""Presidential results as loaded, checked against the rows of the files themselves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from django.db.models import Count

from environment.loaders.elections import state_file_rows, state_year_result
from environment.models import DataGap, ElectionResult

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[2] / "environment" / "data"
PRESIDENTIAL_YEARS = list(range(1976, 2025, 4))


@pytest.fixture(scope="module")
def mit() -> pd.DataFrame:
    return pd.read_csv(DATA / "mit_1976-2020-president.csv")


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
