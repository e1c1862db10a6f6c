"""Places a poll names: the US states its respondents live in.

The table is not typed here. The states come from the files the environment's state `Area` rows
are loaded from (`environment/data/`: names and FIPS codes from the ACS state table, USPS codes
from the FIPS → USPS table `manage.py load_areas` uses), so a state the importer recognises is a
state the platform has an area for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import pandas as pd


@dataclass(frozen=True)
class UsStates:
    """The 50 states, DC and Puerto Rico: USPS code -> name and USPS code -> FIPS code."""

    names: dict[str, str]  # "CA" -> "California"
    fips: dict[str, str]  # "CA" -> "06"
    by_name: dict[str, str] = field(init=False, repr=False)
    by_fips: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {n.casefold(): c for c, n in self.names.items()})
        object.__setattr__(self, "by_fips", {f: c for c, f in self.fips.items()})

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.names)

    def usps_of(self, value: str) -> str | None:
        """The USPS code that a USPS code, a state name (any case) or a FIPS code stands for."""
        text = re.sub(r"\s+", " ", str(value)).strip()
        if text.upper() in self.names:
            return text.upper()
        if text.isdigit():
            return self.by_fips.get(text.zfill(2))
        return self.by_name.get(text.casefold())


@cache
def us_states() -> UsStates:
    from environment.loaders.census import STATES_FILE, state_codes
    from environment.services import DATA_DIR

    usps_by_fips = state_codes(DATA_DIR)
    frame = pd.read_csv(DATA_DIR / STATES_FILE, usecols=["state", "state_fips"], dtype=str)
    names, fips = {}, {}
    for name, number in zip(frame["state"], frame["state_fips"].str.zfill(2), strict=True):
        code = usps_by_fips[number]
        names[code], fips[code] = name, number
    return UsStates(names=names, fips=fips)
