"""The statistics of the quality report (`studies.quality`): weighted option shares and their
normalised entropy, the weighted mean and variance, and Cramér's V with its chi-square test. Pure
functions of the answers' series; nothing here reads the database."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

if TYPE_CHECKING:
    from studies.models import ItemOption


def _weighted_shares(codes: pd.Series, weights: pd.Series, option_ids: list[int]) -> np.ndarray:
    sums = weights.groupby(codes).sum()
    vector = np.array([float(sums.get(o, 0.0)) for o in option_ids])
    total = vector.sum()
    return vector / total if total > 0 else vector


def _normalised_entropy(shares: np.ndarray) -> float:
    """Shannon entropy of the shares over ln(number of options): 0 uniform answers, 1 even."""
    positive = shares[shares > 0]
    if len(shares) < 2:
        return 0.0
    return float(-(positive * np.log(positive)).sum() / math.log(len(shares)))


def weighted_variance(values: pd.Series, weights: pd.Series) -> tuple[float, float]:
    """Weighted mean and variance Σw(x-mean)²/Σw."""
    x = values.to_numpy(dtype=float)
    w = weights.to_numpy(dtype=float)
    mean = float(np.average(x, weights=w))
    return mean, float(np.average((x - mean) ** 2, weights=w))


def spread(codes: pd.Series, weights: pd.Series, options: list[ItemOption]) -> dict:
    """The weighted share of each option, the modal option and share, and the normalised entropy."""
    option_ids = [o.id for o in options]
    shares = _weighted_shares(codes, weights, option_ids)
    modal = int(np.argmax(shares))
    return {
        "n": len(codes),
        "shares": {o.code: float(s) for o, s in zip(options, shares, strict=True)},
        "modal_option": options[modal].code,
        "modal_share": float(shares[modal]),
        "entropy": _normalised_entropy(shares),
    }


def _crosstab(groups: pd.Series, answers: pd.Series, weights: pd.Series) -> np.ndarray:
    """The weights summed per group (rows, sorted) and answer (columns, sorted). With unit
    weights the sums are counts: one `bincount` over the cells, the same table as pandas'
    pivot, which stays the path for other weights (its compensated sums are kept as they were)."""
    w = weights.to_numpy(dtype=float)
    if len(w) and bool((w == 1.0).all()):
        group_codes, group_levels = pd.factorize(groups, sort=True)
        answer_codes, answer_levels = pd.factorize(answers, sort=True)
        cells = len(group_levels) * len(answer_levels)
        counts = np.bincount(group_codes * len(answer_levels) + answer_codes, minlength=cells)
        return counts.reshape(len(group_levels), len(answer_levels)).astype(float)
    return (
        pd.DataFrame({"g": groups, "a": answers, "w": weights})
        .pivot_table(index="g", columns="a", values="w", aggfunc="sum", fill_value=0.0)
        .to_numpy(dtype=float)
    )


def cramers_v(answers: pd.Series, groups: pd.Series, weights: pd.Series) -> dict:
    """Cramér's V and the chi-square test of answer × group, leaving out missing groups.

    Weighted counts are rescaled to Kish's effective sample size for the test; with unit weights
    this is scipy's chi2_contingency on the plain counts (no continuity correction)."""
    known = groups.notna() & (groups.astype(str) != "")
    answers, groups, weights = answers[known], groups[known].astype(str), weights[known]
    n = int(known.sum())
    table = _crosstab(groups, answers, weights)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0] if table.size else table
    if table.ndim != 2 or min(table.shape) < 2:
        return {
            "n": n,
            "v": None,
            "p": None,
            "note": "fewer than two categories or two answers observed: no association to measure",
        }
    w = weights.to_numpy(dtype=float)
    n_eff = float(w.sum() ** 2 / (w**2).sum())
    scaled = table / table.sum() * n_eff
    chi2, p, dof, expected = chi2_contingency(scaled, correction=False)
    v = math.sqrt(chi2 / (n_eff * (min(table.shape) - 1)))
    return {
        "n": n,
        "n_effective": n_eff,
        "categories": int(table.shape[0]),
        "v": float(v),
        "chi2": float(chi2),
        "dof": int(dof),
        "p": float(p),
        "min_expected": float(expected.min()),
    }
