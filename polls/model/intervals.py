"""Intervals for estimates over personas that carry the model's uncertainty.

A group's estimate is the mean of its personas' modelled answer probabilities (the poststratified
estimate; the drawn answers add only their own noise around it). Its interval comes from `draws`
replicates, each combining one draw of the model's parameters from its Laplace posterior with a
Poisson bootstrap of the group's personas, so it carries both the model's uncertainty and the
finite sample of personas that stands for the census table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from polls.model.features import age_block, design
from polls.model.training import QuestionFit

DRAWS = 200
PROFILE = ["sex", "race_ethnicity", "education", "income", "state", "age_min", "age_max"]


def _age_levels(age_min: np.ndarray, age_max: np.ndarray, levels: list[str]) -> np.ndarray:
    """Each row's age level, the one its (age_min, age_max) overlaps most (`age_block`),
    computed once per distinct pair of integer ages (a million personas have a few hundred)."""
    if len(age_min) == 0 or age_min.dtype.kind not in "iu" or age_max.dtype.kind not in "iu":
        return age_block(age_min, age_max, levels).argmax(axis=1)
    low, high = age_min.astype(np.int64), age_max.astype(np.int64)
    span = int(high.max() - high.min()) + 1
    pair_of_row, distinct = pd.factorize((low - low.min()) * span + (high - high.min()))
    pair_low = np.empty(len(distinct), dtype=np.int64)
    pair_high = np.empty(len(distinct), dtype=np.int64)
    pair_low[pair_of_row], pair_high[pair_of_row] = low, high
    return age_block(pair_low, pair_high, levels).argmax(axis=1)[pair_of_row]


def _as_the_model_sees(personas: pd.DataFrame, fitted: QuestionFit) -> pd.DataFrame:
    spec = fitted.spec
    frame = personas[PROFILE].copy()
    for column in ("sex", "race_ethnicity", "education", "income"):
        if column not in spec.dimensions:
            frame[column] = ""
    if not spec.states:
        frame["state"] = ""
    if "age" in spec.dimensions:
        levels = spec.levels["age"]
        bounds = np.array([[int(x) for x in level.split("-")] for level in levels])
        chosen = _age_levels(frame["age_min"].to_numpy(), frame["age_max"].to_numpy(), levels)
        frame["age_min"], frame["age_max"] = bounds[chosen, 0], bounds[chosen, 1]
    else:
        frame["age_min"] = frame["age_max"] = -1
    return frame


def distinct_profiles(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's profile code (in order of first appearance) and the distinct profiles, as
    factorising the rows as tuples would give them: each column factorised on its own and the
    codes combined into one integer key (no Python tuple per row)."""
    key = np.zeros(len(frame), dtype=np.int64)
    for column in PROFILE:
        column_codes, levels = pd.factorize(frame[column], use_na_sentinel=False)
        key = key * max(len(levels), 1) + column_codes
    codes, _ = pd.factorize(key)
    # Codes are numbered in order of first appearance: a profile's first row is where the
    # running maximum of the codes rises (a pass, not a sort).
    first = np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)
    return codes, frame.iloc[first][PROFILE].reset_index(drop=True)


def group_estimates(
    fitted: QuestionFit,
    personas: pd.DataFrame,
    *,
    dimensions: list[str],
    weights: np.ndarray | None = None,
    level: float = 0.95,
    draws: int = DRAWS,
    seed: int = 0,
    factorized: Mapping[str, tuple[np.ndarray, Sequence]] | None = None,
) -> dict[str, list[dict]]:
    """{dimension: [{"category", "n", "shares", "low", "high"}]} with "all" for everyone.

    `personas` has the profile columns and one column per dimension; `weights` (e.g. each
    persona's probability of belonging to the question's universe) weight the personas.
    `factorized` may give a dimension's codes (-1 for none) and values, numbered in any order,
    as the caller has them already; the groups come in order of first appearance whatever it is.
    """
    n = len(personas)
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    # Distinct profiles, as the model tells them apart, are predicted once; personas index into
    # them (exact ages fall into the model's age levels, unmeasured dimensions drop out).
    codes, profiles = distinct_profiles(_as_the_model_sees(personas, fitted))
    X = design(profiles, fitted.spec)
    # (profiles, K): a group's personas' rows are gathered from it, not from a (personas, K)
    # copy.
    mode = fitted.fit.predict(X)
    sampled = fitted.fit.draws(X, count=draws, seed=seed)  # (draws, profiles, K)
    rng = np.random.default_rng(seed)
    tail = (1 - level) / 2
    out: dict[str, list[dict]] = {}
    groups: list[tuple[str, np.ndarray, list[str]]] = [("all", np.zeros(n, dtype=int), ["all"])]
    for dimension in dimensions:
        given = factorized.get(dimension) if factorized is not None else None
        dimension_codes, values = given or pd.factorize(personas[dimension])
        groups.append((dimension, dimension_codes, [str(v) for v in values]))
    for dimension, gcodes, gvalues in groups:
        rows = []
        # One stable sort per dimension: each group's personas are a slice of it, in their own
        # order (as `flatnonzero(gcodes == g)` gives them, without a pass over all personas per
        # group).
        small = gcodes.astype(np.int16) if len(gvalues) < 2**15 else gcodes
        order = np.argsort(small, kind="stable")  # a radix sort for 16-bit codes
        bounds = np.searchsorted(gcodes[order], np.arange(len(gvalues) + 1))
        # The groups in order of their first persona (the bootstrap draws follow it).
        present = np.flatnonzero(bounds[1:] > bounds[:-1])
        for g in present[np.argsort(order[bounds[present]])]:
            value = gvalues[g]
            index = order[bounds[g] : bounds[g + 1]]
            w = weights[index]
            if w.sum() <= 0:
                continue
            group_codes = codes[index]
            shares = w @ mode[group_codes] / w.sum()
            # Personas of one profile are exchangeable: a Poisson(1) bootstrap of m of them is a
            # Poisson(m) count, scaled by their mean weight.
            per_profile = np.bincount(group_codes, minlength=len(profiles))
            present = np.flatnonzero(per_profile)
            members = per_profile[present]
            mean_weight = np.bincount(group_codes, weights=w)[present] / members
            boot = rng.poisson(members, size=(draws, len(present))) * mean_weight
            totals = boot.sum(axis=1, keepdims=True)
            totals[totals == 0] = np.nan
            per_draw = np.einsum("sp,spk->sk", boot, sampled[:, present, :]) / totals
            low, high = np.nanquantile(per_draw, [tail, 1 - tail], axis=0)
            rows.append(
                {
                    "category": value,
                    "n": len(index),
                    "shares": shares,
                    "low": low,
                    "high": high,
                }
            )
        out[dimension] = rows
    return out
