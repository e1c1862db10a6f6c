"""The poll model's design matrix: who a profile is, and where it lives, as numbers.

A profile is a row of harmonized categories (sex, race/ethnicity, education, income, state) and an
age range — a poll respondent (whose age may be a bracket and whose category may span several
platform codes joined by "|") or a persona (exact age, one code each). Each categorical dimension
becomes a block of indicator columns; a respondent whose category spans k codes puts 1/k on each,
and one whose age bracket spans several of the model's age levels is spread over them by overlap. A
blank value leaves the block at zero, which the penalty reads as the population average.

The columns of each block are multiplied by the block's prior scale (see `fit.py`), so the spec that
built a matrix is stored with the fit and builds every later matrix the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from environment.categories import AGE_BRACKETS, DIMENSIONS

CATEGORICAL: tuple[str, ...] = ("sex", "race_ethnicity", "education", "income")
# Interactions in the style of the MRP case studies (Gelman et al.): pairs whose joint effect is
# known to matter in US opinion; kept only when both dimensions were measured.
INTERACTIONS: tuple[tuple[str, str], ...] = (
    ("sex", "race_ethnicity"),
    ("education", "age"),
    ("education", "race_ethnicity"),
)
# Prior scale of the demographic main effects: weak (sd 2 on the log-odds scale).
DEMOGRAPHIC_SCALE = 2.0
AREA_PREDICTOR_SCALE = 2.0


@dataclass
class Spec:
    """Everything needed to rebuild the design matrix of a fitted model."""

    dimensions: list[str]  # measured demographic dimensions, "age" included when measured
    levels: dict[str, list[str]]  # dimension -> level codes (age levels are "lo-hi")
    interactions: list[list[str]]
    states: list[str]
    regions: dict[str, str]  # state -> region
    # name -> {"values": {state: raw value}, "center": ..., "scale": ..., "dated": ...}
    area_predictors: dict[str, dict] = field(default_factory=dict)
    state_scale: float = 0.1
    interaction_scale: float = 0.1
    # Respondents per state in the data the model was fitted on (a state absent here is
    # estimated from its region and the area predictors alone).
    state_respondents: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Spec:
        return cls(**data)

    def with_scales(self, *, state_scale: float, interaction_scale: float) -> Spec:
        data = self.as_dict()
        data.update(state_scale=state_scale, interaction_scale=interaction_scale)
        return Spec.from_dict(data)

    @property
    def region_levels(self) -> list[str]:
        return sorted(set(self.regions.values()))

    def column_names(self) -> list[str]:
        names = [f"{d}={lv}" for d in self.dimensions for lv in self.levels[d]]
        names += [f"state={s}" for s in self.states]
        names += [f"region={r}" for r in self.region_levels]
        names += [f"area:{n}" for n in self.area_predictors]
        for a, b in self.interactions:
            names += [f"{a}={x}×{b}={y}" for x in self.levels[a] for y in self.levels[b]]
        return names


def age_levels(age_min: np.ndarray, age_max: np.ndarray) -> list[str]:
    """The model's age levels: the poll's own brackets when it recorded brackets only, else the
    platform's census brackets (exact ages are assigned to them)."""
    known = age_min >= 0
    if not known.any():
        return []
    exact = known & (age_min == age_max)
    if exact.any():
        return [f"{lo}-{hi}" for lo, hi in AGE_BRACKETS.values()]
    pairs = sorted({(int(a), int(b)) for a, b in zip(age_min[known], age_max[known], strict=True)})
    return [f"{lo}-{hi}" for lo, hi in pairs]


def age_block(age_min: np.ndarray, age_max: np.ndarray, levels: list[str]) -> np.ndarray:
    bounds = np.array([[int(x) for x in lv.split("-")] for lv in levels], dtype=float)
    lo = age_min.astype(float)[:, None]
    hi = age_max.astype(float)[:, None]
    # Overlap of the row's inclusive range with each level, over the row's width.
    overlap = np.clip(np.minimum(hi, bounds[:, 1]) - np.maximum(lo, bounds[:, 0]) + 1, 0, None)
    width = (hi - lo + 1).clip(min=1)
    block = overlap / width
    block[age_min < 0] = 0.0
    # An exact age above the top level's bound (a persona of 95 when the poll stops at 90) goes to
    # the top level rather than nowhere.
    beyond = (age_min >= 0) & (block.sum(axis=1) == 0)
    if beyond.any():
        nearest = np.abs(bounds.mean(axis=1)[None, :] - lo[beyond]).argmin(axis=1)
        block[np.flatnonzero(beyond), nearest] = 1.0
    return block


def _categorical_block(values: np.ndarray, levels: list[str]) -> np.ndarray:
    codes, uniques = pd.factorize(values)
    index = {lv: i for i, lv in enumerate(levels)}
    table = np.zeros((len(uniques) + 1, len(levels)))
    for u, value in enumerate(uniques):
        parts = [index[p] for p in (value or "").split("|") if p in index]
        if parts:
            table[u, parts] = 1.0 / len(parts)
    return table[codes]  # code -1 (missing) takes the zero row appended last


def measured_spec(frame: pd.DataFrame, *, states: list[str], regions: dict[str, str]) -> Spec:
    """The spec a respondent frame supports: the dimensions it measured, their levels."""
    dimensions: list[str] = []
    levels: dict[str, list[str]] = {}
    for d in CATEGORICAL:
        present = {p for v in frame[d].dropna().unique() for p in str(v).split("|") if p}
        known = [lv for lv in DIMENSIONS[d] if lv in present]
        if len(known) >= 2:
            dimensions.append(d)
            levels[d] = known
    ages = age_levels(frame["age_min"].to_numpy(), frame["age_max"].to_numpy())
    if len(ages) >= 2:
        dimensions.append("age")
        levels["age"] = ages
    interactions = [[a, b] for a, b in INTERACTIONS if a in dimensions and b in dimensions]
    return Spec(
        dimensions=dimensions,
        levels=levels,
        interactions=interactions,
        states=states,
        regions=regions,
    )


def design(frame: pd.DataFrame, spec: Spec) -> np.ndarray:
    """The scaled design matrix of a frame of profiles (columns as in `spec.column_names()`)."""
    n = len(frame)
    blocks: dict[str, np.ndarray] = {}
    for d in spec.dimensions:
        if d == "age":
            blocks[d] = age_block(
                frame["age_min"].to_numpy(), frame["age_max"].to_numpy(), spec.levels["age"]
            )
        else:
            blocks[d] = _categorical_block(frame[d].to_numpy(dtype=object), spec.levels[d])
    parts = [blocks[d] * DEMOGRAPHIC_SCALE for d in spec.dimensions]
    state = frame["state"].to_numpy(dtype=object)
    parts.append(_categorical_block(state, spec.states) * spec.state_scale)
    region = np.array([spec.regions.get(s, "") for s in state], dtype=object)
    parts.append(_categorical_block(region, spec.region_levels) * spec.state_scale)
    for predictor in spec.area_predictors.values():
        values = np.array([predictor["values"].get(s, np.nan) for s in state], dtype=float)
        standard = (values - predictor["center"]) / predictor["scale"]
        # An area the predictor does not cover sits at the centre (the average area).
        parts.append(np.nan_to_num(standard, nan=0.0)[:, None] * AREA_PREDICTOR_SCALE)
    for a, b in spec.interactions:
        product = np.einsum("ni,nj->nij", blocks[a], blocks[b]).reshape(n, -1)
        parts.append(product * spec.interaction_scale)
    return np.hstack(parts) if parts else np.zeros((n, 0))
