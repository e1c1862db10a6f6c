"""Reading figures out of an environmental context (environment.context.environmental_context).

Every reader returns ``None`` when the area lacks the figure, so the pressures can say which input was
missing instead of failing. A ``Figure`` keeps the year and source of each number it carries, because
every figure shown to a model or a person is cited.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Final

# The number of harmonized race/ethnicity groups (environment/categories.py); the Gini-Simpson index
# over K groups cannot exceed 1 - 1/K, which is what the diversity is divided by to span [0, 1].
RACE_GROUPS: Final = 5
MAX_DIVERSITY: Final = 1 - 1 / RACE_GROUPS


@dataclass(frozen=True)
class Figure:
    """One number from the context with its provenance."""

    value: float
    year: int | None
    source: str

    @property
    def cite(self) -> str:
        """``[short source, year]`` as the prompt and the explanations print it."""
        year = f", {self.year}" if self.year is not None else ""
        return f"[{source_short_name(self.source)}{year}]"

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "year": self.year, "source": self.source}


# A context carries a few dozen distinct source strings and every persona's prompt cites them:
# kept, the regular expressions run once per string, not a dozen times per persona.
@functools.lru_cache(maxsize=1024)
def source_short_name(source: str) -> str:
    """A short, readable name for a context source string.

    Source strings are long and end in file names ("ACS 2022 1-year: DP05 (...) + S1901 (...), places
    >=65k [file.csv]"). The short name keeps the first clause, drops parenthesized and bracketed detail
    and any text after ":" or " via ", and keeps the word "unofficial" when the full string has it,
    because an unofficial count is a caveat a reader must see.
    """
    first = source.split(";", 1)[0]
    text = re.sub(r"\s*\[[^\]]*\]", "", first)
    text = re.sub(r"\s*\([^)]*\)", "", text)
    text = re.split(r":| via |, joined ", text, maxsplit=1)[0]
    text = " ".join(text.split()).strip(" ,")
    if len(text) > 80:
        text = text[:77].rstrip() + "..."
    if "unofficial" in source.lower() and "unofficial" not in text.lower():
        text += " (unofficial)"
    return text or "unknown source"


def composition(context: dict, key: str) -> dict | None:
    """One of demographic_composition's share tables (racial_composition, age_distribution, ...)."""
    table = (context.get("demographic_composition") or {}).get(key)
    if not table or not table.get("shares"):
        return None
    return table


def share(context: dict, key: str, category: str) -> Figure | None:
    table = composition(context, key)
    if table is None or category not in table["shares"]:
        return None
    return Figure(float(table["shares"][category]), table.get("year"), table.get("source", ""))


def largest_group(context: dict, key: str) -> tuple[str, Figure] | None:
    """The category with the largest share (ties broken by code, so the answer is deterministic)."""
    table = composition(context, key)
    if table is None:
        return None
    category = max(sorted(table["shares"]), key=lambda c: table["shares"][c])
    return category, Figure(
        float(table["shares"][category]), table.get("year"), table.get("source", "")
    )


def diversity(context: dict) -> Figure | None:
    """The area's Gini-Simpson index over race/ethnicity (social_dynamics.cultural_diversity)."""
    item = (context.get("social_dynamics") or {}).get("cultural_diversity")
    if not item or item.get("value") is None:
        return None
    return Figure(float(item["value"]), item.get("year"), item.get("source", ""))


def _indicator(item: dict | None) -> Figure | None:
    if not item or item.get("value") is None:
        return None
    return Figure(float(item["value"]), item.get("year"), item.get("source", ""))


def median_household_income(context: dict) -> Figure | None:
    demographic = context.get("demographic_composition") or {}
    economic = context.get("economic_indicators") or {}
    return _indicator(demographic.get("median_household_income") or economic.get("median_income"))


def unemployment_rate(context: dict) -> Figure | None:
    """Local unemployment rate in percent."""
    return _indicator((context.get("economic_indicators") or {}).get("unemployment_rate"))


def latest_election(context: dict) -> dict | None:
    """The latest presidential election result in the context, or None when the area has none."""
    elections = (context.get("political_context") or {}).get("recent_election_data") or {}
    if not elections:
        return None
    return elections[max(elections, key=int)]


def place_name(context: dict) -> str:
    name = context.get("location_name") or context.get("area_id") or "your area"
    state = context.get("state_name")
    if state and context.get("kind") != "state":
        return f"{name}, {state}"
    return name


def not_available(context: dict) -> list[dict]:
    return list(context.get("not_available") or [])
