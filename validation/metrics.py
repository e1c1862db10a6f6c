"""Distances between a predicted and an observed answer distribution over the same options.

Each takes two probability vectors over the options in one order (they are renormalized).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance


def _norm(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    total = p.sum()
    return p / total if total > 0 else np.full(len(p), 1 / len(p))


def mae_points(predicted, observed) -> float:
    """Mean absolute error of the option shares, in percentage points."""
    return float(np.mean(np.abs(_norm(predicted) - _norm(observed))) * 100)


def total_variation(predicted, observed) -> float:
    """Half the L1 distance: the largest share of people the two distributions disagree on."""
    return float(0.5 * np.abs(_norm(predicted) - _norm(observed)).sum())


def js_distance(predicted, observed) -> float:
    """Jensen–Shannon distance (base 2, so in [0, 1]); scipy.spatial.distance.jensenshannon."""
    return float(jensenshannon(_norm(predicted), _norm(observed), base=2))


def representativeness(predicted, observed, ordinal_values) -> float | None:
    """OpinionQA representativeness: 1 − W1 / (max − min) over the ordinal option positions.

    None when the options are not ordinal (no positions) or take a single position.
    """
    if ordinal_values is None or any(v is None for v in ordinal_values):
        return None
    values = np.asarray(ordinal_values, dtype=float)
    span = values.max() - values.min()
    if span <= 0:
        return None
    distance = wasserstein_distance(values, values, _norm(predicted), _norm(observed))
    return float(1 - distance / span)
