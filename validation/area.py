"""Area-level validation: does the model get areas right, measured against an outside truth?

Three designs, each returning plain dicts (stored on a ValidationRun, printed by the command,
written by the fidelity benchmark):

- `subsample_design`: the MRP case-study design (Lopez-Martin, Phillips & Gelman). Fit on seeded
  subsamples of a large national poll, poststratify to each state's census table, and compare with
  the full sample's own state shares in the states with enough respondents to know them. Beside it:
  the raw subsample's state shares (disaggregation).
- `leave_areas_out`: hold out every respondent of a set of states, fit on the rest, predict the
  held-out states — with and without the area-level predictors. The difference in error is the
  environmental lift, measured per seed.
- `official_results`: an area estimate of a vote question against the areas' official election
  results (`environment.ElectionResult`): Pearson r, MAE, bias per area.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from polls.model.area import poll_cutoff
from polls.model.poststratify import area_cells, poststratify
from polls.model.training import QuestionFit, base_spec, fit_frame, question_frame


@dataclass(frozen=True)
class StateTruth:
    shares: pd.DataFrame  # state x option share, from the full sample
    n: pd.Series  # respondents per state


def state_shares(frame: pd.DataFrame, options: list[int]) -> pd.DataFrame:
    """Unweighted share of each option per state (the raw disaggregation)."""
    counts = pd.crosstab(frame["state"], frame["option_id"]).reindex(columns=options, fill_value=0)
    return counts.div(counts.sum(axis=1), axis=0)


def _full_sample(question, min_state_respondents: int):
    """The question's respondents, its options, the full sample's state shares (the truth),
    respondents per state, and the states with enough of them to know their share."""
    frame = question_frame(question)
    options = sorted(frame["option_id"].unique().tolist())
    n = frame["state"].value_counts()
    states = sorted(s for s in n.index if s and n[s] >= min_state_respondents)
    return frame, options, state_shares(frame, options), n, states


def _fit(frame: pd.DataFrame, question, *, area_predictors: bool) -> QuestionFit:
    spec = base_spec(frame, cutoff=poll_cutoff(question.poll), area_predictors=area_predictors)
    spec, fit, options, grid = fit_frame(frame, spec)
    return QuestionFit(
        spec=spec, fit=fit, options=options, data_version="", grid=grid, seconds=fit.seconds
    )


def _state_areas(states):
    from environment.models import Area

    return list(Area.objects.filter(kind=Area.Kind.STATE, state__in=list(states)).order_by("state"))


def _compare(estimates: dict, truth: pd.DataFrame, states, options) -> dict:
    """Per-state errors (mean absolute error over the options, in points) and, for estimates
    with an interval (`low`, `high`), whether it covers the truth. A state without an estimate
    (no subsample respondent for the raw shares) is listed, not scored."""
    rows = []
    for state in states:
        est = estimates.get(state)
        if est is None:
            continue
        observed = truth.loc[state, options].to_numpy(dtype=float)
        covered = None
        if est.get("low") is not None:
            covered = bool(np.all((est["low"] <= observed) & (observed <= est["high"])))
        rows.append(
            {
                "state": state,
                "mae_points": float(np.mean(np.abs(est["shares"] - observed)) * 100),
                "covered": covered,
                "error_first_option_points": float((est["shares"][0] - observed[0]) * 100),
            }
        )
    hits = [r["covered"] for r in rows if r["covered"] is not None]
    return {
        "states": rows,
        "mae_points": float(np.mean([r["mae_points"] for r in rows])) if rows else None,
        "coverage": float(np.mean(hits)) if hits else None,
        "states_without_estimate": [s for s in states if s not in estimates],
    }


def _cell_estimates(sample: pd.DataFrame, cells: pd.DataFrame, options: list[int]) -> dict:
    """The poll-cell baseline (the hot-deck backend's rule, `polls.cells`) poststratified the same
    way: each census cell gets its matching respondents' weighted shares, widened below the
    minimum cell size, and a state's estimate is their average over its census cells."""
    from polls.cells import CellProfile, RespondentCells

    matcher = RespondentCells(sample)
    grouped = (
        cells.groupby(
            [
                "state",
                "sex",
                "race_ethnicity",
                "education",
                "income",
                "age_min",
                "age_max",
                "age_bracket",
            ],
            sort=False,
        )["weight"]
        .sum()
        .reset_index()
    )
    totals: dict[str, np.ndarray] = {}
    for row in grouped.to_dict("records"):
        profile = CellProfile(
            sex=str(row["sex"]),
            race_ethnicity=str(row["race_ethnicity"]),
            education=str(row["education"]),
            income=str(row["income"]),
            state=str(row["state"]),
            age_min=int(row["age_min"]),
            age_max=int(row["age_max"]),
            age_bracket=str(row["age_bracket"]),
        )
        shares = matcher.cell(profile).shares()
        state = str(row["state"])
        vector = np.array([shares.get(o, 0.0) for o in options]) * float(row["weight"])
        totals[state] = totals.get(state, 0) + vector
    return {
        s: {"shares": v / v.sum(), "low": None, "high": None}
        for s, v in totals.items()
        if v.sum() > 0
    }


def _model_estimates(fitted: QuestionFit, cells: pd.DataFrame, *, seed: int) -> dict:
    by_area = poststratify(fitted, cells, by="state", seed=seed)
    return {s: {"shares": e.shares, "low": e.low, "high": e.high} for s, e in by_area.items()}


def subsample_design(
    question,
    *,
    size: int = 5000,
    seeds=range(5),
    min_state_respondents: int = 500,
    area_predictors: bool = True,
    progress=None,
) -> dict:
    """MRP case-study design: fit on subsamples, compare states with the full sample."""
    frame, options, truth, n, states = _full_sample(question, min_state_respondents)
    if not states:
        raise ValueError(
            f"no state has {min_state_respondents} respondents to serve as the truth; "
            "lower min_state_respondents or use a larger poll."
        )
    if size >= len(frame):
        raise ValueError(f"subsample size {size} is not smaller than the poll ({len(frame)}).")
    cells = area_cells(_state_areas(states))
    runs = []
    seeds = list(seeds)
    for step, seed in enumerate(seeds):
        if progress:
            progress(step, len(seeds))
        started = time.perf_counter()
        sub = frame.sample(n=size, random_state=np.random.RandomState(seed)).reset_index(drop=True)
        fitted = _fit(sub, question, area_predictors=area_predictors)
        model = _compare(_model_estimates(fitted, cells, seed=seed), truth, states, options)
        raw_shares = state_shares(sub, options).reindex(columns=options)
        raw = {s: {"shares": raw_shares.loc[s].to_numpy()} for s in states if s in raw_shares.index}
        runs.append(
            {
                "seed": seed,
                "model": model,
                "raw_subsample": _compare(raw, truth, states, options),
                "poll_cell": _compare(_cell_estimates(sub, cells, options), truth, states, options),
                "chosen_scales": {
                    "state": fitted.spec.state_scale,
                    "interaction": fitted.spec.interaction_scale,
                },
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    return {
        "design": "subsample",
        "question": f"{question.poll.slug}:{question.code}",
        "respondents": len(frame),
        "subsample_size": size,
        "states": states,
        "state_respondents": {s: int(n[s]) for s in states},
        "truth": "full-sample unweighted state shares",
        "poststratification": "each state's census joint table of adults (personas.joint)",
        "runs": runs,
        "summary": _summary(runs, ["model", "raw_subsample", "poll_cell"]),
    }


def _summary(runs: list[dict], methods: list[str]) -> dict:
    out = {}
    for method in methods:
        maes = [r[method]["mae_points"] for r in runs if r[method]["mae_points"] is not None]
        cover = [r[method]["coverage"] for r in runs if r[method].get("coverage") is not None]
        out[method] = {
            "mae_points_mean": float(np.mean(maes)) if maes else None,
            "mae_points_sd": float(np.std(maes, ddof=1)) if len(maes) > 1 else None,
            "coverage_mean": float(np.mean(cover)) if cover else None,
        }
    return out


def leave_areas_out(
    question,
    *,
    held_out: int = 5,
    seeds=range(5),
    min_state_respondents: int = 500,
    progress=None,
) -> dict:
    """Hold out whole states; the lift is the held-out MAE without minus with area predictors."""
    frame, options, truth, _, eligible = _full_sample(question, min_state_respondents)
    if len(eligible) <= held_out:
        raise ValueError(
            f"only {len(eligible)} states have {min_state_respondents} respondents; cannot hold "
            f"out {held_out} of them and keep states to learn from."
        )
    cells = area_cells(_state_areas(eligible))
    runs = []
    seeds = list(seeds)
    for step, seed in enumerate(seeds):
        if progress:
            progress(step, len(seeds))
        rng = np.random.default_rng(seed)
        out = sorted(rng.choice(eligible, size=held_out, replace=False).tolist())
        train = frame[~frame["state"].isin(out)].reset_index(drop=True)
        held_cells = cells[cells["state"].isin(out)]
        result = {"seed": seed, "held_out": out}
        for label, flag in (("with_area_predictors", True), ("without_area_predictors", False)):
            fitted = _fit(train, question, area_predictors=flag)
            result[label] = _compare(
                _model_estimates(fitted, held_cells, seed=seed), truth, out, options
            )
        result["lift_points"] = (
            result["without_area_predictors"]["mae_points"]
            - result["with_area_predictors"]["mae_points"]
        )
        runs.append(result)
    lifts = [r["lift_points"] for r in runs]
    return {
        "design": "leave_areas_out",
        "question": f"{question.poll.slug}:{question.code}",
        "options": len(options),
        "held_out_per_seed": held_out,
        "runs": runs,
        "summary": {
            **_summary(runs, ["with_area_predictors", "without_area_predictors"]),
            "lift_points_mean": float(np.mean(lifts)),
            "lift_points_sd": float(np.std(lifts, ddof=1)) if len(lifts) > 1 else None,
            "lift_positive_in": f"{sum(x > 0 for x in lifts)} of {len(lifts)} seeds",
        },
    }


def official_comparison(estimates: dict[str, float], official: dict[str, float]) -> dict:
    """Arithmetic of the official-results comparison: per-area error and r, MAE and bias, in
    points. `estimates` and `official` map area -> share (0–1) of the option that stands for a
    party; only areas present in both are compared."""
    areas = sorted(set(estimates) & set(official))
    if not areas:
        raise ValueError("no area has both an estimate and an official result to compare.")
    est = np.array([estimates[a] for a in areas]) * 100
    obs = np.array([official[a] for a in areas]) * 100
    error = est - obs
    r = (
        float(stats.pearsonr(est, obs).statistic)
        if len(areas) >= 3 and est.std() > 0 and obs.std() > 0
        else None
    )
    slope = float(np.polyfit(obs, est, 1)[0]) if len(areas) >= 3 and obs.std() > 0 else None
    return {
        "areas": [
            {"area": a, "estimate": float(e), "official": float(o), "error": float(e - o)}
            for a, e, o in zip(areas, est, obs, strict=True)
        ],
        "pearson_r": r,
        "mae_points": float(np.abs(error).mean()),
        "bias_points": float(error.mean()),
        "slope": slope,
        "areas_compared": len(areas),
    }


def official_results(
    question,
    *,
    option_code: str,
    party: str,
    election_year: int,
    two_party: bool = True,
    min_state_respondents: int = 1,
    progress=None,
) -> dict:
    """A vote question's state estimates (the model poststratified to each state's census table,
    and the raw poll's own state shares) against the official results of `election_year`.

    `option_code` is the option that stands for `party` ("dem" or "gop"). With `two_party`, both
    the estimates and the official figures are two-party shares (the option's share among the
    options standing for the two parties, which must be the question's only two options)."""
    from environment.models import ElectionResult

    if party not in ("dem", "gop"):
        raise ValueError(f"party must be 'dem' or 'gop', not {party!r}.")
    options = {o.code: o.id for o in question.options.all()}
    if option_code not in options:
        raise ValueError(
            f"question {question.code} has no option '{option_code}'; its options are "
            f"{', '.join(sorted(options))}."
        )
    if two_party and len(options) != 2:
        raise ValueError(
            f"two-party comparison needs a question with two options; {question.code} has "
            f"{len(options)}: pass two_party=false to compare with shares of all votes."
        )
    frame = question_frame(question)
    n = frame["state"].value_counts()
    states = sorted(s for s in n.index if s and n[s] >= min_state_respondents)
    if not states:
        raise ValueError(f"poll question {question.code} has no respondents with a state.")
    if progress:
        progress(0, 2)
    official = {}
    for r in ElectionResult.objects.filter(
        year=election_year, area__kind="state", area__state__in=states
    ).select_related("area"):
        share = r.dem_share if party == "dem" else r.gop_share
        total = r.dem_share + r.gop_share if two_party else 1.0
        if total > 0:
            official[r.area.state] = share / total
    if not official:
        raise ValueError(f"no official state results for {election_year} are loaded.")
    fitted = _fit(frame, question, area_predictors=True)
    column = fitted.options.index(options[option_code])
    estimates = poststratify(fitted, area_cells(_state_areas(states)), by="state")
    model = {s: float(e.shares[column]) for s, e in estimates.items()}
    raw_shares = state_shares(frame, fitted.options)
    raw = {s: float(raw_shares.loc[s].iloc[column]) for s in states}
    if progress:
        progress(1, 2)
    return {
        "design": "official_results",
        "question": f"{question.poll.slug}:{question.code}",
        "option": option_code,
        "party": party,
        "election_year": election_year,
        "shares": "two-party" if two_party else "of all votes",
        "state_respondents": {s: int(n[s]) for s in states},
        "model": official_comparison(model, official),
        "raw_poll": official_comparison(raw, official),
    }
