"""Places a poll names: the US states its respondents live in, the country it was fielded in.

Neither table is typed here. The states come from the files the environment's state `Area` rows
are loaded from (`environment/data/`: names and FIPS codes from the ACS state table, USPS codes
from the FIPS → USPS table `manage.py load_areas` uses), so a state the importer recognises is a
state the platform has an area for. The countries are ISO 3166-1 as the Debian iso-codes package
publishes it (`polls/data/iso_3166-1.json`, provenance in `polls/data/PROVENANCE.md`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

ISO_3166_FILE = Path(__file__).resolve().parent.parent / "data" / "iso_3166-1.json"


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


@cache
def _iso_entries() -> tuple[dict, ...]:
    return tuple(json.loads(ISO_3166_FILE.read_text(encoding="utf-8"))["3166-1"])


@cache
def iso_countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> the country's short name, e.g. "GB" -> "United Kingdom"."""
    return {entry["alpha_2"]: entry["name"] for entry in _iso_entries()}


DEFAULT_COUNTRY = "US"


def country_problem(value: object) -> str | None:
    """Why a poll's country is not an ISO 3166-1 alpha-2 code (any case), or None."""
    text = str(value).strip()
    if text.upper() in iso_countries():
        return None
    # A name or an alpha-3 code is not accepted, but the message says which code it stands for.
    meant = [
        e
        for e in _iso_entries()
        if text.casefold()
        in {e["alpha_3"].casefold(), e["name"].casefold(), e.get("official_name", "").casefold()}
    ]
    hint = f"; for {meant[0]['name']} write {meant[0]['alpha_2']}" if meant else ""
    return (
        f"mapping: poll country '{text}' is not an ISO 3166-1 alpha-2 code (US, GB, CA, CL, …)"
        f"{hint}"
    )


def poll_with_country(poll: dict, problems: list[str]) -> dict:
    """The poll's fields with `country` as an upper-case ISO code (US when the mapping has none)."""
    country = poll.get("country") or DEFAULT_COUNTRY
    problem = country_problem(country)
    if problem:
        problems.append(problem)
        return poll
    return {**poll, "country": str(country).strip().upper()}


def state_problem(poll: dict, where: str) -> str | None:
    """Why a poll fielded outside the US cannot link its respondents or rows to US states."""
    country = poll.get("country", DEFAULT_COUNTRY)
    if country == DEFAULT_COUNTRY or country_problem(country):
        return None
    return (
        f"mapping: {where} links to US states, but the poll's country is {country}; leave it out "
        "(the platform's areas are US states), or correct the poll's country"
    )
