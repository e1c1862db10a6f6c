"""Poststratification: a fitted poll model's estimate for whole areas, without drawing personas.

An area's adults are its census joint table (age × sex × race/ethnicity × education × income,
raked to the area's ACS marginals by `personas.joint.area_joint`, the table personas are drawn
from). The area's estimate is the model's answer probabilities averaged over the table's cells,
weighted by each cell's share of the area's adults (× the area's adult population when several
areas are pooled). Intervals come from draws of the model's parameters (Laplace posterior), so they
carry the model's uncertainty; there is no persona sampling noise to add.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from environment.categories import AGE_BRACKETS
from personas.joint import CODES, DIMS, Constraints, area_joint
from polls.model.features import design
from polls.model.training import QuestionFit

DRAWS = 400


def area_cells(areas) -> pd.DataFrame:
    """Each area's census joint table as rows of profiles, with the cell's count of adults."""
    from environment.selectors import area_marginals

    marginals = area_marginals(area_ids=[a.pk for a in areas])
    frames = []
    for area in areas:
        joint = area_joint(
            state=area.state,
            state_name=area.state_name,
            marginals=marginals[area.pk],
            constraints=Constraints(),
            area_id=area.pk,
        )
        index = np.argwhere(joint.table > 0)
        frame = pd.DataFrame(
            {d: np.asarray(CODES[d], dtype=object)[index[:, i]] for i, d in enumerate(DIMS)}
        )
        bounds = np.array([AGE_BRACKETS[b] for b in frame["age_bracket"]])
        frame["age_min"], frame["age_max"] = bounds[:, 0], bounds[:, 1]
        frame["state"] = area.state
        frame["area"] = area.pk
        adults = area.adult_population or area.population
        frame["weight"] = joint.table[tuple(index.T)] * adults
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@dataclass
class Estimate:
    group: str
    shares: np.ndarray  # posterior-mode estimate per option
    low: np.ndarray
    high: np.ndarray
    weight: float


def poststratify(
    fitted: QuestionFit,
    cells: pd.DataFrame,
    *,
    by: str = "area",
    level: float = 0.95,
    draws: int = DRAWS,
    seed: int = 0,
) -> dict[str, Estimate]:
    """The model's estimate per group of cells (by area, by default) with `level` intervals."""
    # Cells the model cannot tell apart (a dimension it did not measure) are summed first.
    keys = [by, "sex", "race_ethnicity", "education", "income", "state", "age_min", "age_max"]
    keys = list(dict.fromkeys(keys))
    grouped = cells.groupby(keys, sort=False, dropna=False)["weight"].sum().reset_index()
    X = design(grouped, fitted.spec)
    mode = fitted.fit.predict(X)
    sampled = fitted.fit.draws(X, count=draws, seed=seed) if draws else None
    tail = (1 - level) / 2
    out = {}
    for group, index in grouped.groupby(by, sort=True).indices.items():
        w = grouped["weight"].to_numpy()[index]
        total = float(w.sum())
        if total <= 0:
            continue
        shares = w @ mode[index] / total
        if sampled is not None:
            per_draw = np.einsum("n,snk->sk", w, sampled[:, index, :]) / total
            low, high = np.quantile(per_draw, [tail, 1 - tail], axis=0)
        else:
            low = high = shares
        out[str(group)] = Estimate(
            group=str(group), shares=shares, low=low, high=high, weight=total
        )
    return out
