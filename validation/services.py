"""Held-out validation of the offline poll-cell method against a real poll question.

The respondents who answered a question are split at random (seeded) into a training part and a
held-out part. Every held-out respondent is treated as a persona with its own demographics: the
method predicts its answer distribution from the training respondents of the same demographic cell,
drawn and widened by the rule the offline backend runs (polls.cells). Predictions are
compared with what the held-out respondents really answered — overall and within each demographic
group — beside simple baselines, so every claimed gain is a measured difference:

- ``uniform``: every option equally likely;
- ``national_marginal``: the training sample's overall weighted distribution, for everyone;
- ``demographics_without_state``: the cell method with the state left out of the cell.

Simulated intervals: one answer is drawn per held-out respondent from its predicted distribution
(as a run does for a persona), each group's share gets a 95 % Wilson interval, and ``coverage`` is
the share of (group, option) pairs whose observed share falls inside — how far such intervals can be
trusted.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from scipy.stats import spearmanr
from statsmodels.stats.proportion import proportion_confint

from config.errors import DomainError
from environment.categories import AGE_BRACKETS
from polls.cells import MATCH_ORDER, CellProfile, RespondentCells
from polls.models import Question, Response
from validation.metrics import js_distance, mae_points, representativeness, total_variation
from validation.models import ValidationRun

GROUP_DIMENSIONS = ("sex", "race_ethnicity", "age", "education", "income", "party", "state")
METHODS = ("model", "demographics_without_state", "national_marginal", "uniform")


def _age_key(age_min, age_max) -> str:
    if pd.isna(age_min):
        return ""
    if age_min == age_max:  # an exact age: its census bracket
        for bracket, (lo, hi) in AGE_BRACKETS.items():
            if lo <= age_min <= hi:
                return bracket
    return f"{int(age_min)}-{int(age_max)}"


def answers_frame(question: Question) -> pd.DataFrame:
    """The question's answers, one row each, with the respondent's demographics and weight."""
    rows = Response.objects.filter(question=question).values_list(
        "respondent_id", "option_id", "respondent__weight", "respondent__sex",
        "respondent__race_ethnicity", "respondent__education", "respondent__income",
        "respondent__party", "respondent__state", "respondent__age_min", "respondent__age_max",
    )  # fmt: skip
    frame = pd.DataFrame.from_records(
        rows,
        columns=["respondent_id", "option_id", "weight", "sex", "race_ethnicity", "education",
                 "income", "party", "state", "age_min", "age_max"],
    )  # fmt: skip
    # The age group a held-out respondent is reported in (the cell matches on the ages themselves).
    frame["age"] = [_age_key(a, b) for a, b in zip(frame["age_min"], frame["age_max"], strict=True)]
    return frame


class CellPredictor:
    """Weighted answer shares of the training respondents in a profile's cell (polls.cells)."""

    def __init__(
        self, train: pd.DataFrame, options: list[int], dimensions: tuple[str, ...], min_cell: int
    ):
        self.options = options
        self.cells = RespondentCells(train, dimensions=dimensions, min_cell=min_cell)
        self._cache: dict[tuple, np.ndarray] = {}

    def predict(self, profile: CellProfile) -> np.ndarray:
        key = self.cells.key(profile)
        if key not in self._cache:
            shares = self.cells.cell(profile).shares()
            self._cache[key] = np.array([shares.get(o, 0.0) for o in self.options])
        return self._cache[key]


def _observed(group: pd.DataFrame, options: list[int]) -> np.ndarray:
    w = group["weight"].to_numpy(float)
    return np.array([w[(group["option_id"] == o).to_numpy()].sum() for o in options]) / w.sum()


def _scores(predicted: np.ndarray, observed: np.ndarray, ordinal) -> dict[str, float | None]:
    return {
        "mae_points": mae_points(predicted, observed),
        "total_variation": total_variation(predicted, observed),
        "js_distance": js_distance(predicted, observed),
        "representativeness": representativeness(predicted, observed, ordinal),
    }


def _summarize(groups: list[dict], method: str) -> dict[str, float | None]:
    """Group-size-weighted means of each metric over the groups of one dimension."""
    n = np.array([g["n"] for g in groups], dtype=float)
    summary: dict[str, float | None] = {}
    for metric in ("mae_points", "total_variation", "js_distance", "representativeness"):
        values = [g["methods"][method][metric] for g in groups]
        summary[metric] = (
            None if any(v is None for v in values) else float(np.average(values, weights=n))
        )
    return summary


# The split is random, so suggested fractions leave a margin over the bare minimum.
SPLIT_MARGIN = 1.2


def _check_split(
    *, fraction: float, n: int, n_train: int, n_test: int, min_group: int, min_cell: int
) -> None:
    """Refuse a split whose held-out part holds no reportable group or whose training part
    cannot fill a single demographic cell: its metrics would measure nothing."""
    if n_test < min_group:
        at_least = math.ceil(min_group * SPLIT_MARGIN / n * 10_000) / 10_000
        raise DomainError(
            f"holdout_fraction={fraction:g} holds out {n_test} of {n:,} respondents, fewer "
            f"than the smallest group reported (min_group={min_group}); raise "
            f"holdout_fraction to at least {at_least:g} or lower min_group.",
            code="invalid_holdout",
            fields={"holdout_fraction": [f"holds out {n_test} < min_group={min_group}"]},
        )
    if n_train < min_cell:
        at_most = math.floor((1 - min_cell * SPLIT_MARGIN / n) * 10_000) / 10_000
        raise DomainError(
            f"holdout_fraction={fraction:g} leaves {n_train} of {n:,} respondents for "
            f"training, fewer than one demographic cell needs (min_cell={min_cell}); lower "
            f"holdout_fraction to at most {at_most:g}.",
            code="invalid_holdout",
            fields={"holdout_fraction": [f"trains on {n_train} < min_cell={min_cell}"]},
        )


@transaction.atomic
def validation_run_holdout(
    *,
    question: Question,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    min_cell: int | None = None,
    min_group: int = 30,
    created_by=None,
) -> ValidationRun:
    """Hold out part of a question's respondents, predict them, store the accuracy report."""
    if not 0 < holdout_fraction < 1:
        raise DomainError(
            "holdout_fraction must be strictly between 0 and 1, e.g. 0.2.",
            fields={"holdout_fraction": ["must be in (0, 1)"]},
        )
    min_cell = min_cell or settings.POLL_CELL_MIN_RESPONDENTS
    frame = answers_frame(question)
    if len(frame) < 100:
        raise DomainError(
            f"Question {question.id} has {len(frame)} answers; at least 100 are needed to hold some out.",
            code="too_few_respondents",
        )
    options = list(question.options.order_by("order", "id"))
    option_ids = [o.id for o in options]
    ordinal = [o.ordinal_value for o in options]
    rng = np.random.default_rng(seed)
    is_test = rng.random(len(frame)) < holdout_fraction
    train, test = frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)
    _check_split(
        fraction=holdout_fraction,
        n=len(frame),
        n_train=len(train),
        n_test=len(test),
        min_group=min_group,
        min_cell=min_cell,
    )

    dims = tuple(MATCH_ORDER)
    model = CellPredictor(train, option_ids, dims, min_cell)
    no_state = CellPredictor(train, option_ids, tuple(d for d in dims if d != "state"), min_cell)
    marginal = _observed(train, option_ids)
    uniform = np.full(len(option_ids), 1 / len(option_ids))
    profiles = [CellProfile.of_respondent(row) for row in test.to_dict("records")]
    predictors: dict[str, Callable[[CellProfile], np.ndarray]] = {
        "model": model.predict,
        "demographics_without_state": no_state.predict,
        "national_marginal": lambda _: marginal,
        "uniform": lambda _: uniform,
    }
    predicted = {m: np.stack([f(p) for p in profiles]) for m, f in predictors.items()}
    # One simulated answer per held-out respondent, as a run draws one per persona.
    cumulative = predicted["model"].cumsum(axis=1)
    draws = (rng.random(len(test))[:, None] > cumulative).sum(axis=1).clip(max=len(option_ids) - 1)

    def group_entry(label: str, index: np.ndarray) -> dict:
        group = test.iloc[index]
        observed = _observed(group, option_ids)
        w = group["weight"].to_numpy(float)
        entry = {"group": label, "n": int(len(index)), "observed": observed.tolist(), "methods": {}}
        for method in METHODS:
            shares = np.average(predicted[method][index], axis=0, weights=w)
            entry["methods"][method] = {
                "predicted": shares.tolist(),
                **_scores(shares, observed, ordinal),
            }
        counts = np.bincount(draws[index], minlength=len(option_ids))
        low, high = proportion_confint(counts, len(index), alpha=0.05, method="wilson")
        entry["covered"] = [
            bool(lo <= o <= hi) for lo, o, hi in zip(low, observed, high, strict=True)
        ]
        return entry

    overall = group_entry("all", np.arange(len(test)))
    by_dimension: dict[str, dict] = {}
    for dimension in GROUP_DIMENSIONS:
        values = test[dimension]
        groups = [
            group_entry(str(value), np.flatnonzero((values == value).to_numpy()))
            for value in sorted(values[values != ""].unique())
            if (values == value).sum() >= min_group
        ]
        if not groups:
            continue
        summary = {m: _summarize(groups, m) for m in METHODS}
        first = [g["observed"][0] for g in groups]
        ranks = {}
        for m in METHODS:
            predicted_first = [g["methods"][m]["predicted"][0] for g in groups]
            # A constant prediction (the baselines) ranks nothing: no correlation, not zero.
            defined = len(groups) > 2 and np.ptp(predicted_first) > 0 and np.ptp(first) > 0
            ranks[m] = float(spearmanr(predicted_first, first).statistic) if defined else None
        covered = [c for g in groups for c in g["covered"]]
        by_dimension[dimension] = {
            "groups": groups,
            "summary": summary,
            "rank_correlation_first_option": ranks,
            "coverage": float(np.mean(covered)),
        }
    all_covered = overall["covered"] + [
        c for d in by_dimension.values() for g in d["groups"] for c in g["covered"]
    ]
    metrics = {
        "options": [o.code for o in options],
        "overall": overall,
        "by_dimension": by_dimension,
        "coverage": float(np.mean(all_covered)),
        "min_group": min_group,
        "method": (
            "Seeded random hold-out of the question's respondents; the poll-cell method predicts each "
            "held-out respondent from the training respondents of its demographic cell (widened like "
            "the offline backend); group shares are survey-weighted. Metrics: mean absolute error of "
            "option shares (points), total variation distance, Jensen–Shannon distance (base 2), "
            "OpinionQA representativeness (1 − W1/range over ordinal options), Spearman correlation of "
            "the first option's share across groups, and the coverage of 95% Wilson intervals of one "
            "simulated answer per held-out respondent."
        ),
    }
    return ValidationRun.objects.create(
        question=question,
        method="poll_cell",
        holdout_fraction=holdout_fraction,
        seed=seed,
        min_cell=min_cell,
        n_train=len(train),
        n_test=len(test),
        metrics=metrics,
        created_by=created_by,
    )
