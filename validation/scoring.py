"""Scoring held-out predictions: per group, per dimension, and over the groups of each size.

Every share here is survey-weighted — the observed shares, each method's predicted group shares and
the simulated shares its intervals are built on — so an interval and the share it is meant to cover
are the same kind of figure. With equal weights everything reduces to plain counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from statsmodels.stats.proportion import proportion_confint

from validation.metrics import js_distance, mae_points, representativeness, total_variation

DISTANCES = ("mae_points", "total_variation", "js_distance", "representativeness")
# Shares that differ by less than this across groups are one prediction in floating-point noise
# (a weighted average of the same vector is not bit-for-bit the same in every group).
CONSTANT_TOLERANCE = 1e-9
# Decimals kept of a group's shares and distances: far below any difference that matters, and a
# report of ~80 groups × 5 methods stays a fraction of the size at full float precision.
DECIMALS = 6
# The two scopes every dimension is summarised over.
ALL_GROUPS, LARGE_GROUPS = "all_groups", "large_groups"


def effective_n(weights: np.ndarray) -> float:
    """Kish's effective sample size (Σw)² / Σw²: the n of an unweighted sample as precise as the
    weighted one (equal weights give n)."""
    weights = np.asarray(weights, dtype=float)
    square = float((weights**2).sum())
    return float(weights.sum()) ** 2 / square if square > 0 else 0.0


def weighted_shares(option_index: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Weighted share of each of k options among answers given as option positions."""
    totals = np.bincount(option_index, weights=weights, minlength=k)
    return totals / weights.sum()


def wilson_interval(shares: np.ndarray, n_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson intervals of weighted shares, on the Kish effective sample size — as a run's
    weighted results are (studies.analyzers.single_choice)."""
    low, high = proportion_confint(shares * n_eff, n_eff, alpha=0.05, method="wilson")
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def rank_correlation(predicted: Sequence[float], observed: Sequence[float]) -> float | None:
    """Spearman correlation across groups; None when it ranks nothing: fewer than three groups, or
    predictions (a constant baseline) or observations that are the same in every group."""
    if len(predicted) < 3:
        return None
    if np.ptp(predicted) <= CONSTANT_TOLERANCE or np.ptp(observed) <= CONSTANT_TOLERANCE:
        return None
    return float(spearmanr(predicted, observed).statistic)


def _rounded(values) -> list[float]:
    return [round(float(v), DECIMALS) for v in values]


def group_entry(
    label: str,
    rows: np.ndarray,
    *,
    answers: np.ndarray,
    weights: np.ndarray,
    predicted: Mapping[str, np.ndarray],
    simulated: Mapping[str, np.ndarray],
    ordinal: list[Any],
    min_group: int,
) -> dict:
    """One group's observed shares and, per method, its predicted shares, distances, and the
    simulated-answer interval with which options it covers.

    `answers` and `simulated[method]` are option positions, one per held-out respondent;
    `predicted[method]` is each respondent's predicted distribution; `rows` picks the group."""
    k = len(ordinal)
    w = weights[rows]
    observed = weighted_shares(answers[rows], w, k)
    n_eff = effective_n(w)
    entry: dict = {
        "group": label,
        "n": len(rows),
        "n_effective": round(n_eff, 2),
        "small": bool(len(rows) < min_group),
        "observed": _rounded(observed),
        "methods": {},
    }
    for method, probabilities in predicted.items():
        shares = np.average(probabilities[rows], axis=0, weights=w)
        drawn = weighted_shares(simulated[method][rows], w, k)
        low, high = wilson_interval(drawn, n_eff)
        distances = {
            "mae_points": mae_points(shares, observed),
            "total_variation": total_variation(shares, observed),
            "js_distance": js_distance(shares, observed),
            "representativeness": representativeness(shares, observed, ordinal),
        }
        entry["methods"][method] = {
            "predicted": _rounded(shares),
            **{k: None if v is None else round(v, DECIMALS) for k, v in distances.items()},
            "simulated": _rounded(drawn),
            "interval": [_rounded(pair) for pair in zip(low, high, strict=True)],
            "covered": [bool(a <= o <= b) for a, o, b in zip(low, observed, high, strict=True)],
        }
    return entry


def _weighted_mean(values: list, n: np.ndarray) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return float(np.average(values, weights=n))


def scope_summary(groups: list[dict], methods: Sequence[str], description: str) -> dict:
    """Each method's metrics over some groups of one dimension: distances averaged with the
    groups' sizes as weights, rank correlation of the first option's share across the groups,
    and the coverage of every (group, option) interval."""
    n = np.array([g["n"] for g in groups], dtype=float)
    first = [g["observed"][0] for g in groups]
    out: dict = {
        "description": description,
        "groups": len(groups),
        "respondents": int(n.sum()),
        "methods": {},
    }
    for method in methods:
        scores = [g["methods"][method] for g in groups]
        summary: dict[str, float | None] = {
            metric: _weighted_mean([s[metric] for s in scores], n) for metric in DISTANCES
        }
        summary["rank_correlation_first_option"] = rank_correlation(
            [s["predicted"][0] for s in scores], first
        )
        covered = [c for s in scores for c in s["covered"]]
        summary["coverage"] = float(np.mean(covered)) if covered else None
        out["methods"][method] = summary
    return out


def dimension_entry(
    values: pd.Series, *, min_group: int, methods: Sequence[str], entry_of
) -> dict | None:
    """Every group of one dimension (None when no held-out respondent has a value on it),
    summarised over all groups and over the groups of at least `min_group` respondents.
    `entry_of(label, rows)` scores one group."""
    known = values[values != ""]
    if known.empty:
        return None
    groups = [
        entry_of(str(value), np.flatnonzero((values == value).to_numpy()))
        for value in sorted(known.unique())
    ]
    large = [g for g in groups if not g["small"]]
    return {
        "groups": groups,
        "small_groups": {g["group"]: g["n"] for g in groups if g["small"]},
        "without_value": int(len(values) - len(known)),
        "summary": {
            ALL_GROUPS: scope_summary(groups, methods, "every group, whatever its n"),
            LARGE_GROUPS: scope_summary(large, methods, f"groups with n >= {min_group} only"),
        },
    }


def pooled_coverage(entries: list[dict], method: str) -> float | None:
    """Share of (group, option) intervals of `method` that cover the observed share."""
    covered = [c for e in entries for c in e["methods"][method]["covered"]]
    return float(np.mean(covered)) if covered else None
