"""From a poll question's respondents to a fitted poll model.

`question_frame` reads the respondents who answered (one query); `fit_question` chooses the prior
scales of the pooled blocks by the Laplace evidence over a small grid and returns the fit with the
spec that rebuilds its design matrix. Respondents are fitted unweighted, as MRP does: the model
conditions on the demographics and states that survey weights mostly adjust for, and poststratifying to
the census does the rest. What a poll's weights adjust on other variables (party, past vote) is not
carried over.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from polls.model.area import poll_cutoff, prior_vote_predictor, state_regions
from polls.model.features import Spec, design, measured_spec
from polls.model.fit import Fit, fit_penalised

# Bump when the model's definition changes: stored fits of another version are not reused.
MODEL_VERSION = "mrp-1"
STATE_SCALES = (0.05, 0.1, 0.2, 0.4)
INTERACTION_SCALES = (0.05, 0.02, 0.15)
# Fewer respondents than this cannot support a model with demographic and area effects.
MIN_RESPONDENTS = 100

PROFILE_COLUMNS = ("sex", "race_ethnicity", "education", "income", "state", "age_min", "age_max")


class ModelDataError(ValueError):
    """The question's data cannot support the model; the message says what is missing."""


@dataclass
class QuestionFit:
    spec: Spec
    fit: Fit
    options: list[int]  # poll option ids, in the order of the fit's classes
    data_version: str
    grid: list[dict]
    seconds: float


def respondent_frame(rows) -> pd.DataFrame:
    """Rows of (respondent id, option id, *PROFILE_COLUMNS, survey weight) as a frame. The model
    is fitted unweighted; the weight is there for the methods it is compared with."""
    frame = pd.DataFrame(
        list(rows), columns=["respondent_id", "option_id", *PROFILE_COLUMNS, "weight"]
    )
    frame[["age_min", "age_max"]] = frame[["age_min", "age_max"]].fillna(-1).astype(np.int64)
    return frame.sort_values("respondent_id", kind="stable").reset_index(drop=True)


def question_frame(question, *, options=None) -> pd.DataFrame:
    """The respondents who answered `question` (limited to `options` when given)."""
    from polls.models import Response

    rows = Response.objects.filter(question=question)
    if options is not None:
        rows = rows.filter(option_id__in=list(options))
    return respondent_frame(
        rows.values_list(
            "respondent_id",
            "option_id",
            *(f"respondent__{c}" for c in PROFILE_COLUMNS),
            "respondent__weight",
        )
    )


# The universe model's two classes: outside the question's universe (no answer), inside it.
OUTSIDE, INSIDE = 0, 1


def universe_frame(question) -> pd.DataFrame:
    """Every respondent of the question's poll, "answering" INSIDE when they answered it and
    OUTSIDE when they did not: the data of the model of who belongs to the question's universe."""
    from polls.models import Respondent, Response

    answered = set(
        Response.objects.filter(question=question).values_list("respondent_id", flat=True)
    )
    frame = respondent_frame(
        (r[0], INSIDE if r[0] in answered else OUTSIDE, *r[1:])
        for r in Respondent.objects.filter(poll_id=question.poll_id).values_list(
            "id", *PROFILE_COLUMNS, "weight"
        )
    )
    return frame


def data_version(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for column in ("respondent_id", "option_id", *PROFILE_COLUMNS):
        digest.update(frame[column].astype(str).str.cat(sep="\x1f").encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:32]


def base_spec(frame: pd.DataFrame, *, cutoff, area_predictors: bool = True) -> Spec:
    """The dimensions the frame measured; state and region effects and the area predictors when
    it recorded respondents' states (a poll without states gets a national model, and says so)."""
    has_state = bool((frame["state"] != "").any())
    regions = state_regions() if has_state else {}
    spec = measured_spec(frame, states=sorted(regions), regions=regions)
    if has_state:
        counts = frame.loc[frame["state"] != "", "state"].value_counts()
        spec.state_respondents = {str(k): int(v) for k, v in counts.items()}
    if area_predictors and has_state:
        vote = prior_vote_predictor(cutoff, spec.states)
        if vote is not None:
            spec.area_predictors["prior_presidential_vote"] = vote
    return spec


def require_demographics(spec: Spec, poll) -> None:
    """Refuse a poll whose respondents carry none of the model's demographic dimensions."""
    if not spec.dimensions:
        raise ModelDataError(
            f"poll '{poll.slug}' recorded none of sex, race/ethnicity, education, income "
            "or age for its respondents; the poll model needs at least one of them."
        )


def fit_frame(
    frame: pd.DataFrame,
    spec: Spec,
    *,
    state_scales=STATE_SCALES,
    interaction_scales=INTERACTION_SCALES,
) -> tuple[Spec, Fit, list[int], list[dict]]:
    """Search the prior scales of the pooled blocks and keep the fit with the highest Laplace
    evidence (one fit per point tried, six at most)."""
    if len(frame) < MIN_RESPONDENTS:
        raise ModelDataError(
            f"{len(frame)} respondents answered; the poll model needs at least {MIN_RESPONDENTS}."
        )
    options = sorted(frame["option_id"].unique().tolist())
    if len(options) < 2:
        raise ModelDataError("every respondent gave the same answer; there is nothing to model.")
    # One row per distinct (profile, answer) with its count: the same likelihood, far fewer rows.
    grouped = (
        frame.groupby(["option_id", *PROFILE_COLUMNS], sort=True, dropna=False)
        .size()
        .reset_index(name="count")
    )
    y = np.searchsorted(options, grouped["option_id"].to_numpy())
    counts = grouped["count"].to_numpy(dtype=float)
    has_state = (frame["state"] != "").any()
    if not spec.interactions:
        interaction_scales = interaction_scales[:1]
    if not has_state:
        state_scales = state_scales[:1]
    best: tuple[Spec, Fit] | None = None
    grid: list[dict] = []
    tried: set[tuple[float, float]] = set()

    def consider(s: float, i: float) -> None:
        nonlocal best
        if (s, i) in tried:
            return
        tried.add((s, i))
        candidate = spec.with_scales(state_scale=s, interaction_scale=i)
        fit = fit_penalised(design(grouped, candidate), y, len(options), counts)
        grid.append(
            {
                "state_scale": s,
                "interaction_scale": i,
                "log_evidence": round(fit.log_evidence, 3),
                "seconds": round(fit.seconds, 3),
            }
        )
        if best is None or fit.log_evidence > best[1].log_evidence:
            best = (candidate, fit)

    # Coordinate search: the area scale at the first interaction scale, then the interaction
    # scale at the best area scale. On CCES subsamples the full 4 x 2 grid chose the same point
    # (the two scales barely interact), at a third more fits.
    for s in state_scales:
        consider(s, interaction_scales[0])
    assert best is not None
    chosen_state = best[0].state_scale
    for i in interaction_scales[1:]:
        consider(chosen_state, i)
    assert best is not None
    return best[0], best[1], options, grid


def fit_question(
    question,
    *,
    options=None,
    area_predictors: bool = True,
    universe: bool = False,
    frame: pd.DataFrame | None = None,
) -> QuestionFit:
    """The question's answer model or, with `universe`, the model of who was asked it. A caller
    that has already read the rows (`question_frame` or `universe_frame`) passes them as `frame`."""
    started = time.perf_counter()
    if frame is None:
        frame = universe_frame(question) if universe else question_frame(question, options=options)
    spec = base_spec(frame, cutoff=poll_cutoff(question.poll), area_predictors=area_predictors)
    require_demographics(spec, question.poll)
    spec, fit, classes, grid = fit_frame(frame, spec)
    return QuestionFit(
        spec=spec,
        fit=fit,
        options=classes,
        data_version=data_version(frame),
        grid=grid,
        seconds=time.perf_counter() - started,
    )
