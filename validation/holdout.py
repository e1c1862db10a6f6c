"""Held-out validation against a real poll question: the respondent-level design.

The respondents who answered a question are split at random (seeded) into a training part and a
held-out part. Every held-out respondent is treated as a persona with its own demographics and
predicted by each method from the training part only:

- ``model`` (the poll-cell method, `studies.backends.poll_cell`): the weighted answer shares of
  the training respondents in its demographic cell, drawn and widened by the rule the offline
  backend runs (`polls.cells`);
- ``poll_model``: the multilevel poll model (`polls.model`, the `poll_model` backend's model)
  fitted on the training respondents, predicting from the respondent's demographics and state;
- baselines, so every claimed gain is a measured difference: ``demographics_without_state`` (the
  cell method with the state left out), ``national_marginal`` (the training sample's weighted
  distribution, for everyone) and ``uniform`` (every option equally likely).

Predictions are compared with what the held-out respondents really answered — over the whole
held-out sample and within every demographic group, whatever its size (`validation.scoring`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from config.errors import DomainError
from environment.categories import AGE_BRACKETS
from polls.cells import MATCH_ORDER, CellProfile, RespondentCells
from polls.model.area import poll_cutoff
from polls.model.features import design
from polls.model.training import (
    PROFILE_COLUMNS,
    ModelDataError,
    base_spec,
    fit_frame,
    require_demographics,
)
from polls.models import Question, Response
from validation.calibration import DEFINITION as CALIBRATION_DEFINITION
from validation.calibration import reliability_table
from validation.llm import LLM_LABEL, LLM_METHOD, MAX_PERSONAS, llm_predict
from validation.scoring import (
    ALL_GROUPS,
    LARGE_GROUPS,
    dimension_entry,
    group_entry,
    pooled_coverage,
    weighted_shares,
)

GROUP_DIMENSIONS = ("sex", "race_ethnicity", "age", "education", "income", "party", "state")
METHODS = ("model", "poll_model", "demographics_without_state", "national_marginal", "uniform")
METHOD_LABELS = {
    "model": "poll_cell: weighted shares of the training respondents in the held-out "
    "respondent's demographic cell, widened like the offline backend (polls.cells)",
    "poll_model": "poll_model: the multilevel poll model (polls.model) fitted on the training "
    "respondents, predicting from demographics, state, region and the prior vote",
    "demographics_without_state": "baseline: the poll-cell method with the state left out",
    "national_marginal": "baseline: the training sample's weighted distribution, for everyone",
    "uniform": "baseline: every option equally likely",
}
DEFINITIONS = {
    "mae_points": "mean over the options of |predicted − observed share|, in percentage points",
    "total_variation": "half the L1 distance between the predicted and observed distributions",
    "js_distance": "Jensen–Shannon distance, base 2 (0 same, 1 disjoint)",
    "representativeness": "OpinionQA: 1 − Wasserstein-1 distance / range of the options' "
    "ordinal values (none when the options are not ordinal)",
    "rank_correlation_first_option": "Spearman correlation, across a dimension's groups, of the "
    "predicted and observed share of the first option; none when fewer than three groups or "
    "when the predictions (a constant baseline) or the observations are the same in every group",
    "coverage": "for each method one answer is drawn per held-out respondent from its predicted "
    "distribution (as a run draws one per persona; the same random numbers for every method). "
    "In each group the simulated share of each option is survey-weighted like the observed "
    "share, and gets a 95% Wilson interval on the group's Kish effective sample size "
    "(Σw)²/Σw² (its n when the weights are equal), as a run's weighted results do. Coverage is "
    "the share of (group, option) pairs whose observed share lies inside the interval. The "
    "observed share has sampling noise of its own, so even a method that knew every "
    "respondent's true probabilities would cover about 83% in groups where that noise "
    "dominates (P(|Z| < 1.96/√2)); far lower means the method's errors exceed its intervals",
    "calibration": CALIBRATION_DEFINITION,
    "summaries": "distances are means over a dimension's groups weighted by their n; "
    f"'{ALL_GROUPS}' counts every group, '{LARGE_GROUPS}' only groups of at least min_group "
    "held-out respondents (smaller groups are listed with their n and flagged 'small')",
}
# Fewer answers than this leave nothing meaningful to hold out.
MIN_ANSWERS = 100
# The split is random, so suggested fractions leave a margin over the bare minimum.
SPLIT_MARGIN = 1.2


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


def _model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the poll model reads, typed as `polls.model.training.question_frame` types
    them (no age is -1, no category is blank); rows stay in the frame's order."""
    out = frame[["respondent_id", "option_id", *PROFILE_COLUMNS]].copy()
    out[["age_min", "age_max"]] = out[["age_min", "age_max"]].fillna(-1).astype(np.int64)
    categories = [c for c in PROFILE_COLUMNS if c not in ("age_min", "age_max")]
    out[categories] = out[categories].fillna("")
    return out


@dataclass
class ModelPrediction:
    probabilities: np.ndarray | None  # held-out respondents × options; None when not fitted
    about: dict | None  # what was fitted
    unavailable: str = ""  # why nothing could be


def poll_model_predict(
    question: Question, train: pd.DataFrame, test: pd.DataFrame, option_ids: list[int]
) -> ModelPrediction:
    """Fit the poll model on the training part and predict each held-out respondent."""
    train_frame = _model_frame(train)
    spec = base_spec(train_frame, cutoff=poll_cutoff(question.poll))
    try:
        require_demographics(spec, question.poll)
        spec, fit, classes, _ = fit_frame(train_frame, spec)
    except ModelDataError as error:
        return ModelPrediction(None, None, f"the training part cannot be fitted: {error}")
    fitted = fit.predict(design(_model_frame(test), spec))
    probabilities = np.zeros((len(test), len(option_ids)))
    for column, option in enumerate(classes):
        probabilities[:, option_ids.index(option)] = fitted[:, column]
    return ModelPrediction(
        probabilities,
        {
            "respondents": len(train_frame),
            "dimensions": spec.dimensions,
            "state_scale": spec.state_scale,
            "interaction_scale": spec.interaction_scale,
            "area_predictors": {n: p["dated"] for n, p in spec.area_predictors.items()},
        },
    )


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


@dataclass
class HoldoutReport:
    metrics: dict
    n_train: int
    n_test: int


def holdout_report(
    *,
    question: Question,
    holdout_fraction: float,
    seed: int,
    min_cell: int,
    min_group: int,
    llm: dict | None = None,
    llm_personas: int = MAX_PERSONAS,
) -> HoldoutReport:
    """Split, predict the held-out respondents by every method, score them (nothing stored).

    With `llm` (an LLM backend config), up to `llm_personas` held-out respondents are also asked
    as personas through the LLM backend (`validation.llm`), and every method is scored on the
    respondents it answered."""
    if not 0 < holdout_fraction < 1:
        raise DomainError(
            "holdout_fraction must be strictly between 0 and 1, e.g. 0.2.",
            fields={"holdout_fraction": ["must be in (0, 1)"]},
        )
    frame = answers_frame(question)
    if len(frame) < MIN_ANSWERS:
        raise DomainError(
            f"Question {question.id} has {len(frame)} answers; at least {MIN_ANSWERS} are "
            "needed to hold some out.",
            code="too_few_respondents",
        )
    options = list(question.options.order_by("order", "id"))
    option_ids = [o.id for o in options]
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

    asked = None
    if llm is not None:
        asked = llm_predict(question, test, option_ids, config=llm, limit=llm_personas, seed=seed)
        test = test.iloc[asked.rows].reset_index(drop=True)
    dims = tuple(MATCH_ORDER)
    cell = CellPredictor(train, option_ids, dims, min_cell)
    no_state = CellPredictor(train, option_ids, tuple(d for d in dims if d != "state"), min_cell)
    profiles = [CellProfile.of_respondent(row) for row in test.to_dict("records")]
    k = len(option_ids)
    position = {o: i for i, o in enumerate(option_ids)}
    marginal = weighted_shares(
        train["option_id"].map(position).to_numpy(int), train["weight"].to_numpy(float), k
    )
    model = poll_model_predict(question, train, test, option_ids)
    predicted: dict[str, np.ndarray] = {
        "model": np.stack([cell.predict(p) for p in profiles]),
        "demographics_without_state": np.stack([no_state.predict(p) for p in profiles]),
        "national_marginal": np.tile(marginal, (len(test), 1)),
        "uniform": np.full((len(test), k), 1 / k),
    }
    if model.probabilities is not None:
        predicted["poll_model"] = model.probabilities
    if asked is not None:
        predicted[LLM_METHOD] = asked.probabilities
    predicted = {m: predicted[m] for m in (*METHODS, LLM_METHOD) if m in predicted}
    # One simulated answer per held-out respondent and method, as a run draws one per persona,
    # from the same random numbers for every method.
    uniforms = rng.random(len(test))[:, None]
    simulated = {
        m: (uniforms > p.cumsum(axis=1)).sum(axis=1).clip(max=k - 1) for m, p in predicted.items()
    }
    answers = test["option_id"].map(position).to_numpy(int)
    weights = test["weight"].to_numpy(float)

    def entry_of(label: str, rows: np.ndarray) -> dict:
        return group_entry(
            label,
            rows,
            answers=answers,
            weights=weights,
            predicted=predicted,
            simulated=simulated,
            ordinal=[o.ordinal_value for o in options],
            min_group=min_group,
        )

    overall = entry_of("all", np.arange(len(test)))
    by_dimension: dict[str, dict] = {}
    for dimension in GROUP_DIMENSIONS:
        entry = dimension_entry(
            test[dimension], min_group=min_group, methods=list(predicted), entry_of=entry_of
        )
        if entry is not None:
            by_dimension[dimension] = entry
    metrics = {
        "options": [o.code for o in options],
        "methods": list(predicted),
        "method_labels": {m: {**METHOD_LABELS, LLM_METHOD: LLM_LABEL}[m] for m in predicted},
        "llm": None if asked is None else asked.about,
        "unavailable": {"poll_model": model.unavailable} if model.unavailable else {},
        "poll_model": model.about,
        "min_group": min_group,
        "overall": overall,
        "by_dimension": by_dimension,
        "dimensions_not_measured": [d for d in GROUP_DIMENSIONS if d not in by_dimension],
        "coverage": _coverage(overall, by_dimension, list(predicted)),
        "calibration": {m: reliability_table(p, answers) for m, p in predicted.items()},
        "definitions": DEFINITIONS,
        "method": (
            "Seeded random hold-out of the question's respondents; every held-out respondent is "
            "predicted from the training part by each method, and group shares are "
            "survey-weighted. Every group is reported with its n, small ones flagged; each "
            f"dimension is summarised over '{ALL_GROUPS}' and over '{LARGE_GROUPS}' (n >= "
            f"{min_group}). See 'definitions' for each metric."
        ),
    }
    return HoldoutReport(metrics=metrics, n_train=len(train), n_test=len(test))


def _coverage(overall: dict, by_dimension: dict[str, dict], methods: list[str]) -> dict:
    """Each method's interval coverage: the whole held-out sample, pooled over it and the
    groups of every dimension (all, and large only), and per dimension."""
    out = {}
    for m in methods:
        every = [overall] + [g for d in by_dimension.values() for g in d["groups"]]
        out[m] = {
            "whole_sample": pooled_coverage([overall], m),
            ALL_GROUPS: pooled_coverage(every, m),
            LARGE_GROUPS: pooled_coverage([e for e in every if not e["small"]], m),
            "by_dimension": {
                name: {
                    scope: d["summary"][scope]["methods"][m]["coverage"]
                    for scope in (ALL_GROUPS, LARGE_GROUPS)
                }
                for name, d in by_dimension.items()
            },
        }
    return out
