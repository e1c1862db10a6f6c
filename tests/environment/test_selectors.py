"""The no-future rule's read: each area's latest result from an election held before a day."""

from __future__ import annotations

from datetime import date

import pytest

from environment.elections import presidential_election_date
from environment.models import Area
from environment.selectors import election_results_before

pytestmark = pytest.mark.django_db

AREAS = ["ohio_state", "wayne_mi_county", "detroit_mi_city"]


def _years(area_ids: list[str], before: date) -> dict[str, int]:
    return {r.area_id: r.year for r in election_results_before(area_ids=area_ids, before=before)}


@pytest.mark.parametrize("year", [2016, 2020])
def test_a_poll_ending_on_election_day_gets_the_previous_election(year):
    assert _years(AREAS, presidential_election_date(year)) == dict.fromkeys(AREAS, year - 4)


@pytest.mark.parametrize("year", [2012, 2016, 2020])
def test_a_poll_ending_the_day_after_gets_that_election(year):
    day_after = date.fromordinal(presidential_election_date(year).toordinal() + 1)
    assert _years(AREAS, day_after) == dict.fromkeys(AREAS, year)


def test_a_2016_poll_uses_2012_never_2016_or_later():
    results = election_results_before(area_ids=AREAS, before=date(2016, 9, 30))
    assert {r.year for r in results} == {2012}
    assert len(results) == len(AREAS)


def test_states_reach_back_to_1976_and_nothing_exists_before_it():
    assert _years(["ohio_state"], date(1980, 1, 15)) == {"ohio_state": 1976}
    assert _years(["ohio_state"], presidential_election_date(1976)) == {}


def test_areas_without_results_are_absent():
    assert _years(["puerto_rico_state", "anchorage_ak_city", "ohio_state"], date(2021, 3, 1)) == {
        "ohio_state": 2020
    }


def test_a_county_missing_the_last_election_gets_its_latest_earlier_one():
    # San Joaquin CA has no 2020 total in the county table, so no 2020 share.
    assert _years(["san_joaquin_ca_county"], date(2021, 3, 1)) == {"san_joaquin_ca_county": 2016}


def test_one_query_for_any_number_of_areas(django_assert_num_queries):
    ids = list(Area.objects.values_list("id", flat=True))
    with django_assert_num_queries(1):
        results = list(election_results_before(area_ids=ids, before=date(2022, 1, 1)))
    assert len({r.area_id for r in results}) == len(results) > 3000
    assert {r.year for r in results} <= {2016, 2020}
