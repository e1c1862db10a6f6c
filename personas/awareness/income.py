"""Dollar values for the harmonized income brackets.

The bounds come from the bracket labels in environment/categories.py, so a change of brackets there
changes them here. A closed bracket is represented by its midpoint. The open top bracket
("$150,000 or more") has no midpoint; it is represented by the median household income *within* the
bracket under a Pareto tail fitted to real counts (below).
"""

from __future__ import annotations

import csv
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from environment.categories import DIMENSIONS

# ACS 2018 1-year table B19001 (household income in 16 brackets) by state, bundled with its provenance
# in personas/data/MANIFEST.csv. Columns 016 ($150,000-199,999) and 017 ($200,000 or more) are the
# two brackets above $150,000 (personas/data/acs1_2018_B19001_LEGEND.csv).
B19001_FILE: Final = Path(__file__).resolve().parents[1] / "data" / "acs1_2018_state_B19001.csv"
B19001_SOURCE: Final = (
    "ACS 2018 1-year B19001, 50 states and DC [personas/data/acs1_2018_state_B19001.csv]"
)
TOP_LOWER: Final = 150_000
TOP_SPLIT: Final = 200_000


@dataclass(frozen=True)
class IncomeBracket:
    code: str
    label: str
    lower: int
    upper: int | None  # exclusive; None for the open top bracket
    representative: float  # dollars standing for a household in the bracket
    method: str


def _dollars(text: str) -> int:
    return int(text.replace(",", ""))


def _bounds(label: str) -> tuple[int, int | None]:
    """(lower, exclusive upper) from a label: "Under $25,000", "$25,000–49,999", "$150,000 or more"."""
    numbers = [_dollars(n) for n in re.findall(r"\d[\d,]*", label)]
    lowered = label.lower()
    if lowered.startswith("under") and len(numbers) == 1:
        return 0, numbers[0]
    if "or more" in lowered and len(numbers) == 1:
        return numbers[0], None
    if len(numbers) == 2:
        # Labels give the last whole dollar ("49,999"); the bracket ends where the next begins.
        return numbers[0], numbers[1] + 1
    raise ValueError(f"cannot read income bounds from the label {label!r}")


@functools.lru_cache(maxsize=1)
def top_bracket_pareto() -> dict[str, float | int | str]:
    """Pareto tail above $150,000 fitted to the US household counts of ACS 2018 B19001.

    Households above x fall as x^-alpha under a Pareto tail, so with N150 households at or above
    $150,000 and N200 at or above $200,000: alpha = ln(N150 / N200) / ln(200,000 / 150,000). The
    median income inside the bracket is then 150,000 * 2^(1/alpha). The median rather than the mean
    (alpha / (alpha - 1) * 150,000) because the mean of a heavy tail is dominated by a few very high
    incomes and does not stand for a typical household of the bracket. Puerto Rico is left out, as
    the national income reference in environment.context leaves it out.
    """
    n150 = n200 = 0
    with B19001_FILE.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["NAME"] == "Puerto Rico":
                continue
            n150 += int(row["B19001_016E"]) + int(row["B19001_017E"])
            n200 += int(row["B19001_017E"])
    alpha = math.log(n150 / n200) / math.log(TOP_SPLIT / TOP_LOWER)
    return {
        "households_150k_plus": n150,
        "households_200k_plus": n200,
        "alpha": alpha,
        "median": TOP_LOWER * 2 ** (1 / alpha),
        "source": B19001_SOURCE,
    }


@functools.lru_cache(maxsize=1)
def income_brackets() -> dict[str, IncomeBracket]:
    """Every harmonized income bracket with its bounds and representative dollar value."""
    brackets = {}
    for code, label in DIMENSIONS["income"].items():
        lower, upper = _bounds(label)
        if upper is None:
            tail = top_bracket_pareto()
            value = float(tail["median"])
            method = (
                f"median within the bracket under a Pareto tail (alpha {tail['alpha']:.3f}) fitted "
                f"to the households above $150,000 and above $200,000 in {tail['source']}"
            )
        else:
            value = (lower + upper) / 2
            method = "midpoint of the bracket bounds"
        brackets[code] = IncomeBracket(code, label, lower, upper, value, method)
    return brackets


def income_midpoint(code: str) -> float:
    """Representative household income in dollars for a harmonized income code."""
    return income_brackets()[code].representative
