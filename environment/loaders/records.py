"""What the parsers hand to the writer: one record per area with its figures and their gaps."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from environment.models import Area


@dataclass
class MarginalRow:
    dimension: str
    shares: dict[str, float]
    universe: str
    source: str
    year: int


@dataclass
class ElectionRow:
    year: int
    dem_share: float
    gop_share: float
    total_votes: int | None
    method: str
    source: str
    geography: str = ""


@dataclass
class IndicatorRow:
    indicator: str
    year: int
    value: float
    unit: str
    source: str
    geography: str = ""


@dataclass
class AreaRecord:
    id: str
    name: str
    kind: str
    state: str
    state_name: str
    fips: str
    population: int
    adult_population: int | None
    county_fips: str
    county_name: str
    source: str
    year: int
    citizens_voting_age: int | None = None
    marginals: list[MarginalRow] = field(default_factory=list)
    elections: list[ElectionRow] = field(default_factory=list)
    indicators: list[IndicatorRow] = field(default_factory=list)
    # figure -> why the files cannot give it for this area
    gaps: dict[str, str] = field(default_factory=dict)


def area_slug(name: str, state: str, kind: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    if kind == Area.Kind.STATE:
        return f"{base}_state"
    return f"{base}_{state.lower()}_{kind}"


def num(value) -> float | None:
    """A non-negative number, or None for the files' blanks and negative missing-value codes."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) or number < 0 else number


def normalized(raw: dict[str, float]) -> dict[str, float]:
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}
