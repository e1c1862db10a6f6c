"""Policy support shares: each stance's share with its Wilson interval and net support with its
bootstrap interval, overall and within each area and demographic group, chi-square tests of the
differences, and swing groups (near the threshold, or moving most between areas or conditions).
Pure functions of a per-persona frame (columns `stance`, `area`, the demographic dimensions,
`condition`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from environment.categories import DIMENSIONS
from studies.analyzers import stats
from studies.analyzers.policy_stance import NEUTRAL, OPPOSE, STANCES, SUPPORT

#: A group is a swing group when the 95% interval of its two-way support share contains this.
THRESHOLD: Final = 0.5
#: Groups (or group-by-area cells) with fewer personas are not ranked as swing groups or movers:
#: their intervals are too wide to say anything.
MIN_GROUP: Final = 10
#: Swing movers listed: the groups whose support moves most between areas / conditions.
TOP_MOVERS: Final = 5


# --- shares and net support ------------------------------------------------------------------


def _share(count: int, n: int) -> dict:
    low, high = stats.wilson(count / n, n) if n else (None, None)
    return {"count": count, "share": count / n if n else None, "ci_low": low, "ci_high": high}


def net_values(stance: pd.Series) -> np.ndarray:
    """+1 for support, −1 for oppose, 0 for neutral: their mean is net support."""
    return stance.map({SUPPORT: 1.0, OPPOSE: -1.0, NEUTRAL: 0.0}).to_numpy(dtype=float)


def stance_summary(frame: pd.DataFrame, *, seed: int, with_net_interval: bool = True) -> dict:
    """Counts and Wilson intervals of each stance, the two-way support share, and net support with
    its bootstrap interval."""
    n = len(frame)
    counts = frame["stance"].value_counts()
    support, oppose = int(counts.get(SUPPORT, 0)), int(counts.get(OPPOSE, 0))
    neutral = int(counts.get(NEUTRAL, 0))
    net = float(net_values(frame["stance"]).mean()) if n else None
    low, high = (
        stats.bootstrap_interval(net_values(frame["stance"]), np.mean, seed=seed)
        if with_net_interval and n
        else (None, None)
    )
    return {
        "n": n,
        SUPPORT: _share(support, n),
        OPPOSE: _share(oppose, n),
        NEUTRAL: _share(neutral, n),
        "two_way_support": _share(support, support + oppose),
        "net_support": {"estimate": net, "ci_low": low, "ci_high": high},
    }


def stance_table(frame: pd.DataFrame, column: str) -> tuple[list, np.ndarray]:
    """Categories of `column` × (support, oppose, neutral) counts."""
    table = pd.crosstab(frame[column], frame["stance"]).reindex(columns=list(STANCES), fill_value=0)
    return list(table.index), table.to_numpy()


def breakdown(frame: pd.DataFrame, column: str, labels: Mapping, *, seed: int) -> list[dict]:
    """The stance summary within each category of `column` that has personas, in `labels` order
    (then any category `labels` lacks, sorted)."""
    present = set(frame[column].dropna().unique())
    order = [c for c in labels if c in present] + sorted(present - set(labels))
    grouped = dict(list(frame.groupby(column)))
    return [
        {"category": c, "label": labels.get(c, c)}
        | stance_summary(grouped[c], seed=seed + i, with_net_interval=True)
        for i, c in enumerate(order)
    ]


def difference_tests(frame: pd.DataFrame, columns: tuple[str, ...], *, seed: int) -> dict:
    """Whether stance depends on each column (area, each demographic dimension): chi-square test
    of independence of category × stance, Holm-corrected across the columns."""
    rows = []
    for column in columns:
        categories, table = stance_table(frame, column)
        rows.append(
            {"dimension": column, "groups": len(categories)}
            | dict(stats.contingency_test(table, seed=seed))
        )
    return {"correction": "holm", "tests": stats.holm(rows)}


# --- swing groups ----------------------------------------------------------------------------


def swing_near_threshold(breakdowns: Mapping[str, list[dict]]) -> list[dict]:
    """Groups whose two-way support share's Wilson interval contains THRESHOLD."""
    rows = []
    for dimension, groups in breakdowns.items():
        for group in groups:
            two_way = group["two_way_support"]
            if group["n"] < MIN_GROUP or two_way["ci_low"] is None:
                continue
            if two_way["ci_low"] <= THRESHOLD <= two_way["ci_high"]:
                rows.append(
                    {
                        "dimension": dimension,
                        "category": group["category"],
                        "label": group["label"],
                        "n": group["n"],
                        "two_way_support": two_way,
                    }
                )
    return sorted(rows, key=lambda r: abs(r["two_way_support"]["share"] - THRESHOLD))


def swing_movers(
    frame: pd.DataFrame, dimensions: tuple[str, ...], across: str, *, seed: int
) -> list[dict]:
    """Demographic groups whose support share varies most across the values of `across` (area
    or condition): the range of the per-cell support shares over cells of at least MIN_GROUP
    personas, with the chi-square test of `across` × stance within the group."""
    rows: list[dict] = []
    for dimension in dimensions:
        for key, group in frame.groupby(dimension):
            category = str(key)
            sizes = group[across].value_counts()
            cells = group[group[across].isin(sizes[sizes >= MIN_GROUP].index)]
            if cells[across].nunique() < 2:
                continue
            shares = (cells["stance"] == SUPPORT).groupby(cells[across]).mean()
            _, table = stance_table(cells, across)
            rows.append(
                {
                    "dimension": dimension,
                    "category": category,
                    "label": DIMENSIONS.get(dimension, {}).get(category, category),
                    "across": across,
                    "range": float(shares.max() - shares.min()),
                    "support_by": {str(k): float(v) for k, v in shares.items()},
                    "n": len(cells),
                }
                | dict(stats.contingency_test(table, seed=seed))
            )
    rows.sort(key=lambda r: -r["range"])
    return stats.holm(rows)[:TOP_MOVERS]
