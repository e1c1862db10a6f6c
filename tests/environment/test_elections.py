from __future__ import annotations

from datetime import date, timedelta

import pytest

from environment.elections import last_presidential_year_before, presidential_election_date


@pytest.mark.parametrize(
    ("year", "day"),
    [
        (2012, date(2012, 11, 6)),
        # 1 November 2016 was a Tuesday: the first Monday came after it, so the election was the 8th.
        (2016, date(2016, 11, 8)),
        (2020, date(2020, 11, 3)),
    ],
)
def test_election_day_is_the_tuesday_after_the_first_monday_of_november(year, day):
    assert presidential_election_date(year) == day


@pytest.mark.parametrize("year", range(1848, 2101, 4))
def test_every_election_day_falls_on_a_tuesday_between_the_2nd_and_8th(year):
    day = presidential_election_date(year)
    monday = day - timedelta(days=1)
    assert day.weekday() == 1 and monday.weekday() == 0
    assert monday.month == 11 and monday.day <= 7  # the first Monday, not a later one


@pytest.mark.parametrize("year", [2013, 2018, 1844])
def test_a_year_without_a_uniform_presidential_election_is_refused(year):
    with pytest.raises(ValueError, match=str(year)):
        presidential_election_date(year)


@pytest.mark.parametrize(
    ("day", "year"),
    [
        # Fieldwork ending on election day: that election is not before it.
        (date(2016, 11, 8), 2012),
        (date(2016, 11, 9), 2016),
        (date(2016, 6, 30), 2012),
        (date(2017, 1, 1), 2016),
        (date(2020, 11, 2), 2016),
    ],
)
def test_last_election_before_a_day_is_strictly_before_it(day, year):
    assert last_presidential_year_before(day) == year
