"""The group-dynamics measures of a peer-influence simulation, each defined here.

Notation: n personas, K answer options; x(0) the personas' own answer probabilities (n × K),
x(T) after the last round; A the 0/1 tie matrix, W its row-normalised form; λ the susceptibilities
(0 for a persona without ties); TV(p, q) = ½ Σ_k |p_k − q_k| the total variation distance.

- **group diversity** — Blau's index 1 − Σ_c p_c² (Blau 1977, *Inequality and Heterogeneity*) of
  each demographic attribute within each group, averaged over groups weighted by their size, then
  over the attributes: the chance that two members drawn at random differ on the attribute.
- **conformity pressure** — mean λ × mean neighbour disagreement, where a persona's neighbour
  disagreement is TV(x_i(0), (W x(0))_i), how far its own opinion is from its ties' average before
  anyone moves (0 for a persona without ties). High when people are both willing to conform and
  surrounded by others who think differently.
- **social influence strength** — 1 − Σ_k Var_i x_ik(T) / Σ_k Var_i x_ik(0): the share of the
  spread of opinions across personas that influence removed (0 nothing moved, 1 full consensus).
- **average influence** — mean_i TV(x_i(T), x_i(0)): how far, on average, one persona's answer
  distribution moved.
- **similarity clustering** — Newman's assortativity coefficient r = (Σ_k e_kk − Σ_k a_k²) /
  (1 − Σ_k a_k²) of the personas' most likely answers over the ties, e_kl the share of tie ends
  joining answer k to answer l, a_k = Σ_l e_kl (Newman 2003, "Mixing patterns in networks",
  Physical Review E 67): 0 when ties ignore opinions, 1 when every tie joins people of the same
  answer. Given before and after influence.
- **shares** — the expected share of each option, the mean of the personas' probabilities, with a
  95 % Wilson interval at n personas; when the question was asked of part of the poll's sample,
  each persona counts by its modelled chance of belonging to that universe (`Answer.weight`), the
  interval then at Kish's effective n, as in the run's own results. The interval carries only the sampling variability of
  drawing n personas (each answering by its probabilities); it leaves out the poll model's own
  uncertainty and, after influence, the dependence influence creates between tied personas, so it
  is optimistic there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from studies.analyzers.stats import kish_n_eff, wilson


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise ½ Σ_k |p_k − q_k|."""
    return 0.5 * np.abs(p - q).sum(axis=1)


def blau_index(labels: np.ndarray) -> float:
    """1 − Σ_c p_c² over the categories of `labels` (0 for one category or no labels)."""
    if labels.size == 0:
        return 0.0
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(1.0 - (p**2).sum())


def group_diversity(groups: np.ndarray, attributes: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Blau's index per attribute within each group, averaged over groups (size-weighted), and
    the mean over the attributes."""
    per_attribute = {}
    _, group_of = np.unique(groups, return_inverse=True)
    sizes = np.bincount(group_of).astype(float)
    for name, labels in attributes.items():
        _, category = np.unique(labels.astype(str), return_inverse=True)
        levels = int(category.max()) + 1 if category.size else 0
        counts = np.bincount(group_of * levels + category, minlength=sizes.size * levels)
        p = counts.reshape(sizes.size, levels) / sizes[:, None]
        blau = 1.0 - (p**2).sum(axis=1)
        per_attribute[name] = float(np.average(blau, weights=sizes)) if sizes.size else 0.0
    overall = float(np.mean(list(per_attribute.values()))) if per_attribute else 0.0
    return {"value": overall, "by_attribute": per_attribute}


def neighbour_disagreement(weights: sp.csr_matrix, opinions: np.ndarray) -> np.ndarray:
    """TV between each persona's opinion and its ties' average (0 without ties)."""
    degrees = np.diff(weights.indptr)
    gap = total_variation(opinions, weights @ opinions)
    return np.where(degrees > 0, gap, 0.0)


def conformity_pressure(
    weights: sp.csr_matrix, susceptibility: np.ndarray, initial: np.ndarray
) -> float:
    return float(np.mean(susceptibility) * np.mean(neighbour_disagreement(weights, initial)))


def social_influence_strength(initial: np.ndarray, final: np.ndarray) -> float:
    before = float(initial.var(axis=0).sum())
    return 0.0 if before == 0 else float(1.0 - final.var(axis=0).sum() / before)


def average_influence(initial: np.ndarray, final: np.ndarray) -> float:
    return float(total_variation(final, initial).mean()) if initial.size else 0.0


def answer_assortativity(adjacency: sp.csr_matrix, opinions: np.ndarray) -> float | None:
    """Newman's r of the most likely answers over the ties; None without ties or with one answer
    held by everyone (r is undefined)."""
    if adjacency.nnz == 0:
        return None
    n, k = opinions.shape
    modal = opinions.argmax(axis=1)
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), modal)), shape=(n, k))
    mixing = np.asarray((onehot.T @ adjacency @ onehot).todense(), dtype=float)
    mixing /= mixing.sum()
    a = mixing.sum(axis=1)
    expected = float((a**2).sum())
    if expected >= 1.0:
        return None
    return float((np.trace(mixing) - expected) / (1.0 - expected))


def shares(
    opinions: np.ndarray, codes: Sequence[str], weights: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Each option's expected share with its 95 % Wilson interval at n personas (weighted: the
    weighted mean, the interval at Kish's effective n, as the run's own results)."""
    n = opinions.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    total = float(w.sum())
    means = (w @ opinions) / total if n and total > 0 else np.zeros(len(codes))
    n_eff = kish_n_eff(w) if total > 0 else 0.0
    rows = []
    for code, share in zip(codes, means, strict=True):
        low, high = wilson(float(share), n_eff) if n_eff > 0 else (None, None)
        rows.append({"option": code, "share": float(share), "ci_low": low, "ci_high": high})
    return rows


def breakdowns(
    categories: Mapping[str, np.ndarray],
    codes: Sequence[str],
    initial: np.ndarray,
    final: np.ndarray | None,
    weights: np.ndarray | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Shares before (and after, when influence ran) for every category of each dimension."""
    w = np.ones(initial.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    out: dict[str, list[dict[str, Any]]] = {}
    for dimension, labels in categories.items():
        rows = []
        labels = labels.astype(str)
        for category in np.unique(labels).tolist():
            mask = labels == category
            rows.append(
                {
                    "category": category,
                    "n": int(mask.sum()),
                    "influence_off": shares(initial[mask], codes, w[mask]),
                    "influence_on": None if final is None else shares(final[mask], codes, w[mask]),
                }
            )
        out[dimension] = rows
    return out
