"""The presidential election calendar: when each election the platform holds took place.

A poll may only use an area's election results from before its fieldwork ended, so what counts is
the day each election was held, not its year.
"""

from __future__ import annotations

from datetime import date, timedelta

# The act of 1845 gave every state the same election day from the 1848 election on.
FIRST_UNIFORM_ELECTION = 1848


def presidential_election_date(year: int) -> date:
    """Election day of a presidential year: the Tuesday after the first Monday of November."""
    if year % 4 or year < FIRST_UNIFORM_ELECTION:
        raise ValueError(
            f"{year} is not a presidential election year with a uniform election day (every "
            f"fourth year from {FIRST_UNIFORM_ELECTION})"
        )
    first = date(year, 11, 1)
    first_monday = first + timedelta(days=-first.weekday() % 7)  # Monday is weekday 0
    return first_monday + timedelta(days=1)


def last_presidential_year_before(day: date) -> int:
    """The year of the latest presidential election held strictly before `day` (an election held
    on `day` itself is not before it)."""
    year = day.year - day.year % 4
    while presidential_election_date(year) >= day:
        year -= 4
    return year
