"""Conditional categorical distributions estimated from survey microdata, and vectorized draws.

A characteristic's distribution given a persona's demographics is estimated from the respondents of a
real survey who share the persona's cell. Cells are sparse (a few hundred respondents spread over
dozens of cells), so each level of a hierarchy of cells is shrunk toward the level above it:

    p(y | cell) = (n(cell, y) + alpha * p(y | parent cell)) / (n(cell) + alpha)

where the parent of ``(age_bracket, education)`` is ``(age_bracket,)`` and the parent of that is the
overall distribution. ``alpha`` (the prior's weight, in respondents) is estimated for each level by
empirical Bayes: the method of moments for a Dirichlet-multinomial, which compares how far cell shares
spread around their parent's with how far sampling noise alone would spread them. A level whose cells
differ no more than noise gets a large ``alpha`` (the parent wins); a level with real differences gets a
small one (the cell's own respondents win).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

# Bounds on the prior weight: below 1 a cell of two respondents would be taken at face value; above
# 10,000 the cell's own respondents no longer matter at all.
ALPHA_MIN: Final = 1.0
ALPHA_MAX: Final = 10_000.0


def empirical_bayes_alpha(counts: np.ndarray, parent: np.ndarray) -> float:
    """Dirichlet-multinomial precision by the method of moments.

    ``counts`` is (cells, K) observed counts; ``parent`` is (cells, K) the prior shares each cell is
    shrunk toward. With rho = 1 / (alpha + 1) the intra-cell correlation,
    E[sum_c n_c (p̂_ck - p_ck)^2] = sum_c p_ck(1 - p_ck) (1 + (n_c - 1) rho); solved for rho after
    summing over categories.
    """
    n = counts.sum(axis=1)
    used = n > 0
    if used.sum() < 2:
        return ALPHA_MAX
    counts, parent, n = counts[used], parent[used], n[used]
    shares = counts / n[:, None]
    spread = (n[:, None] * (shares - parent) ** 2).sum()
    variance = parent * (1 - parent)
    noise = variance.sum()
    excess = (variance * (n[:, None] - 1)).sum()
    if excess <= 0:
        return ALPHA_MAX
    rho = (spread - noise) / excess
    if rho <= 0:
        return ALPHA_MAX
    return float(np.clip(1.0 / rho - 1.0, ALPHA_MIN, ALPHA_MAX))


@dataclass(frozen=True)
class ConditionalTable:
    """P(outcome | key levels) over the full grid of the keys' levels, shrunk level by level."""

    keys: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]  # the allowed codes of each key, in grid order
    outcomes: tuple[str, ...]
    probabilities: np.ndarray  # shape (*len(levels[i]), len(outcomes)), rows sum to 1
    alphas: tuple[float, ...]  # the prior weight used at each level of the hierarchy
    respondents: int
    cell_counts: np.ndarray  # respondents per cell of the full grid

    def cell_index(self, frame: pd.DataFrame) -> np.ndarray:
        """Flat grid index of every row of ``frame`` (which must hold the keys as codes)."""
        index = np.zeros(len(frame), dtype=np.int64)
        for key, levels in zip(self.keys, self.levels, strict=True):
            index = index * len(levels) + level_codes(frame[key], levels)
        return index

    def rows_for(self, frame: pd.DataFrame) -> np.ndarray:
        """(len(frame), K) outcome probabilities of each row's cell."""
        flat = self.probabilities.reshape(-1, len(self.outcomes))
        return flat[self.cell_index(frame)]

    def draw(self, frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """One outcome index per row of ``frame``, drawn from its cell's distribution."""
        flat = self.probabilities.reshape(-1, len(self.outcomes))
        return draw_by_cell(flat, self.cell_index(frame), rng)


def level_codes(values: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    """Integer position of each value in ``levels``; fast when ``values`` is already categorical."""
    if isinstance(values.dtype, pd.CategoricalDtype) and tuple(values.cat.categories) == levels:
        codes = values.cat.codes.to_numpy()
    else:
        codes = pd.Index(list(levels)).get_indexer(values)
    if (codes < 0).any():
        bad = values[codes < 0].iloc[0]
        raise ValueError(f"{values.name}: {bad!r} is not one of {', '.join(levels)}")
    return codes.astype(np.int64)


def estimate(
    data: pd.DataFrame,
    *,
    keys: tuple[str, ...],
    levels: tuple[tuple[str, ...], ...],
    outcome: str,
    outcomes: tuple[str, ...],
    weight: str | None = None,
) -> ConditionalTable:
    """Shrunk P(outcome | keys) from microdata whose key and outcome columns hold platform codes.

    A respondent's row may carry a weight (``weight``), used where one source code spans two platform
    codes and the respondent is split between them.
    """
    frame = data.dropna(subset=[*keys, outcome])
    frame = frame[frame[outcome].isin(outcomes)]
    for key, allowed in zip(keys, levels, strict=True):
        frame = frame[frame[key].isin(allowed)]
    weights = frame[weight].to_numpy(float) if weight else np.ones(len(frame))
    shape = tuple(len(lv) for lv in levels)
    k = len(outcomes)
    outcome_codes = pd.Categorical(frame[outcome], categories=list(outcomes)).codes
    key_codes = [
        pd.Categorical(frame[key], categories=list(lv)).codes
        for key, lv in zip(keys, levels, strict=True)
    ]
    full = np.zeros((*shape, k))
    np.add.at(full, (*key_codes, outcome_codes), weights)

    # Level 0: the overall distribution, with a uniform pseudo-respondent so no outcome is impossible.
    total = full.reshape(-1, k).sum(axis=0)
    probs = (total + 1.0 / k) / (total.sum() + 1.0)
    alphas: list[float] = []
    current = probs
    for depth in range(1, len(keys) + 1):
        # Counts summed over the keys below this depth: shape (*shape[:depth], k).
        counts = full.sum(axis=tuple(range(depth, len(keys)))) if depth < len(keys) else full
        parent = np.broadcast_to(np.expand_dims(current, axis=depth - 1), counts.shape)
        flat_counts = counts.reshape(-1, k)
        flat_parent = parent.reshape(-1, k)
        alpha = empirical_bayes_alpha(flat_counts, flat_parent)
        alphas.append(alpha)
        n = flat_counts.sum(axis=1, keepdims=True)
        current = ((flat_counts + alpha * flat_parent) / (n + alpha)).reshape(counts.shape)
    return ConditionalTable(
        keys=keys,
        levels=levels,
        outcomes=outcomes,
        probabilities=np.ascontiguousarray(current),
        alphas=tuple(alphas),
        respondents=len(frame),
        cell_counts=full.sum(axis=-1),
    )


def draw_by_cell(table: np.ndarray, cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One outcome index per row, where row i draws from ``table[cells[i]]`` ((cells, K) shares).

    Every cell's cumulative distribution is laid end to end, cell c occupying [c, c + 1), so one
    binary search over the whole table finds every row's outcome.
    """
    k = table.shape[1]
    cumulative = np.cumsum(table, axis=1)
    cumulative /= cumulative[:, -1:]
    cumulative[:, -1] = 1.0
    laid_out = (cumulative + np.arange(len(table))[:, None]).ravel()
    target = cells + rng.random(len(cells))
    position = np.searchsorted(laid_out, target, side="right")
    return np.minimum(position - cells * k, k - 1)


def shift_values(values: pd.Series, table: dict[str, float]) -> np.ndarray:
    """Per-row shift from a {code: shift} table (0 for codes it does not name); fast on categoricals."""
    categorical = values.astype("category")
    per_category = np.array([table.get(c, 0.0) for c in categorical.cat.categories], dtype=float)
    codes = categorical.cat.codes.to_numpy()
    return np.where(codes >= 0, per_category[codes], 0.0)
