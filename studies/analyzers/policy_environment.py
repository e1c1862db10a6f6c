"""The environment of an analysis: the mean social pressures of each area's personas, how a 1/0
outcome (supporting the policy, or the market's intent to buy) goes with each pressure across
personas, and how much the areas' shares of it vary. Pure functions of a per-persona frame
(columns `stance` or the outcome, `area`, one per social pressure)."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
from scipy import stats as sps

from studies.analyzers import stats
from studies.analyzers.policy_stance import SUPPORT

PRESSURES: Final = ("conformity", "minority_solidarity", "economic", "cultural", "political")
POINT_BISERIAL: Final = "point-biserial correlation (scipy.stats.pointbiserialr)"


def area_pressures(frame: pd.DataFrame, pressures: tuple[str, ...] = PRESSURES) -> list[dict]:
    """The mean of each pressure over each area's personas (those for which it is derivable)."""
    rows = []
    for area, group in frame.groupby("area"):
        means = {}
        for name in pressures:
            values = group[name].dropna().to_numpy(dtype=float)
            means[name] = {
                "mean": float(values.mean()) if values.size else None,
                "n": int(values.size),
            }
        rows.append({"area": area, "pressures": means})
    return rows


def _outcome(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    """The 1/0 outcome per persona: supporting (stance == SUPPORT), or a 1/0 `column`."""
    if column is None:
        return (frame["stance"] == SUPPORT).to_numpy(dtype=float)
    return frame[column].to_numpy(dtype=float)


def pressure_associations(
    frame: pd.DataFrame,
    pressures: tuple[str, ...] = PRESSURES,
    *,
    outcome: str | None = None,
    what: str = "support",
) -> list[dict]:
    """Across personas: the point-biserial correlation of the 1/0 outcome (supporting, or the
    `outcome` column, e.g. the market's intent to buy) with each pressure, Holm-corrected across
    the pressures. An association, not a causal effect."""
    rows = []
    for name in pressures:
        known = frame[frame[name].notna()]
        hits = _outcome(known, outcome)
        values = known[name].to_numpy(dtype=float)
        row: dict = {"pressure": name, "n": len(known), "measure": POINT_BISERIAL}
        if len(known) < 3 or np.ptp(values) == 0 or np.ptp(hits) == 0:
            row |= {"r": None, "p": None, "note": f"no variation in the pressure or in {what}"}
        else:
            result = sps.pointbiserialr(hits, values)
            row |= {"r": float(result.statistic), "p": float(result.pvalue), "note": ""}
        row["interpretation"] = "association across personas, not a causal effect"
        rows.append(row)
    return stats.holm(rows)


def _share_range(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    means = np.stack([np.mean(s, axis=axis) for s in samples])
    return means.max(axis=0) - means.min(axis=0)


def geographic_variation(frame: pd.DataFrame, *, seed: int, outcome: str | None = None) -> dict:
    """The range of the areas' shares of the 1/0 outcome (support, or the `outcome` column), with
    a seeded percentile bootstrap interval that resamples personas within each area
    (scipy.stats.bootstrap over the areas' samples); no interval without variation to resample."""
    samples = [_outcome(g, outcome) for _, g in frame.groupby("area") if len(g)]
    if len(samples) < 2:
        return {"estimate": None, "ci_low": None, "ci_high": None, "areas": len(samples)}
    estimate = float(_share_range(*samples))
    if any(s.size < 2 for s in samples) or all(np.ptp(s) == 0 for s in samples):
        return {"estimate": estimate, "ci_low": None, "ci_high": None, "areas": len(samples)}
    result = stats.groups_bootstrap(samples, _share_range, seed=seed)
    return {
        "estimate": estimate,
        "ci_low": float(result.confidence_interval.low),
        "ci_high": float(result.confidence_interval.high),
        "areas": len(samples),
    }
