"""The accuracy report: what the stored validation runs of a window say about the platform.

Every figure is computed from completed runs created in the last `days` days (nothing is a
constant); `DEFINITIONS` says how, and is returned with the report.

- A held-out run's accuracy for a method is 1 − the total variation distance between the
  method's predicted and the held-out respondents' observed answer distribution over the whole
  held-out sample (`metrics.overall`). The platform's own backend in a run is ``poll_model`` when
  it was fitted, else the poll-cell method (``model``).
- Each question counts once, by its latest run in the window, in every figure but the trend,
  which has every run.
- The environmental figures come from leave-areas-out runs: whole states are held out and
  predicted with and without the area predictors.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from validation.models import ValidationRun

PRIMARY, FALLBACK = "poll_model", "model"
BASELINES = ("national_marginal", "uniform", "demographics_without_state")
# Thresholds of the recommendations, each a measured weakness.
TOPIC_GAP = 0.05  # a topic this far below the overall accuracy is weak
MIN_TOPIC_QUESTIONS = 2  # fewer validated questions than this is thin evidence on a topic
# With sampling noise in the observed shares, a method that knew every respondent's true
# probabilities covers about 83 % (validation.holdout DEFINITIONS["coverage"]); below this its
# errors exceed its intervals.
COVERAGE_FLOOR = 0.75
ECE_CEILING = 0.05  # more expected calibration error than this is miscalibration
THIN_STATES_LISTED = 10

DEFINITIONS = {
    "overall_accuracy": "mean over the questions validated in the window (each by its latest "
    "held-out run) of 1 − total variation distance of the platform's backend (poll_model, else "
    "the poll-cell method) over the whole held-out sample",
    "environmental_accuracy": "mean over the questions with a leave-areas-out run of 1 − the "
    "total variation distance in the held-out states with area predictors (options/2 × the mean "
    "state MAE in shares)",
    "accuracy_by_topic": "overall_accuracy over the questions tagged with each topic (the "
    "question's tags, else its poll's; 'untagged' when neither has any)",
    "accuracy_by_backend": "per method scored in the held-out runs: mean 1 − total variation, "
    "mean interval coverage over all groups, mean expected calibration error",
    "accuracy_trend": "per day, the mean accuracy of the platform's backend over every held-out "
    "run of that day (repeated runs of a question included)",
    "baseline_vs_environmental": "relative reduction of the held-out states' error by the area "
    "predictors: 1 − mean MAE with / mean MAE without, over the leave-areas-out questions",
    "lift_points": "mean leave-areas-out lift: MAE without minus with area predictors, in points",
    "calibration": "per method, the reliability bins of the latest held-out runs pooled: counts "
    "summed, mean predicted and observed frequency averaged with the counts as weights; the ECE "
    "is that of the pooled table",
    "geographic_prediction_accuracy": "mean over the held-out questions of 1 − the "
    "size-weighted mean total variation of the platform's backend across the states with at "
    "least min_group held-out respondents",
}


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def primary_method(run: ValidationRun) -> str:
    return PRIMARY if PRIMARY in run.metrics.get("methods", []) else FALLBACK


def run_accuracy(run: ValidationRun, method: str | None = None) -> float | None:
    """1 − total variation of `method` (the platform's backend by default) over the whole
    held-out sample of a held-out run."""
    scored = run.metrics.get("overall", {}).get("methods", {}).get(method or primary_method(run))
    if scored is None or scored.get("total_variation") is None:
        return None
    return 1 - scored["total_variation"]


def _latest_per_question(runs: list[ValidationRun]) -> list[ValidationRun]:
    latest: dict[int, ValidationRun] = {}
    for run in sorted(runs, key=lambda r: (r.created_at, r.id)):
        latest[run.question_id] = run
    return list(latest.values())


def _topics(run: ValidationRun) -> list[str]:
    return list(run.question.topic_tags or run.question.poll.topic_tags or ["untagged"])


def _geographic(run: ValidationRun) -> float | None:
    state = run.metrics.get("by_dimension", {}).get("state")
    if state is None:
        return None
    scored = state["summary"]["large_groups"]["methods"].get(primary_method(run), {})
    tv = scored.get("total_variation")
    return None if tv is None else 1 - tv


def _pooled_calibration(runs: list[ValidationRun], method: str) -> dict:
    """One reliability table of `method` over the runs' tables (validation.calibration)."""
    bins: dict[tuple, list[float]] = {}
    for run in runs:
        table = run.metrics.get("calibration", {}).get(method)
        for b in (table or {}).get("bins", []):
            total = bins.setdefault(tuple(b["bin"]), [0, 0.0, 0.0])
            total[0] += b["count"]
            total[1] += b["count"] * b["mean_predicted"]
            total[2] += b["count"] * b["observed_frequency"]
    forecasts = sum(t[0] for t in bins.values())
    rows = [
        {
            "bin": list(edges),
            "count": int(count),
            "mean_predicted": predicted / count,
            "observed_frequency": observed / count,
        }
        for edges, (count, predicted, observed) in sorted(bins.items())
        if count
    ]
    ece = (
        sum(r["count"] * abs(r["mean_predicted"] - r["observed_frequency"]) for r in rows)
        / forecasts
        if forecasts
        else None
    )
    return {"forecasts": int(forecasts), "ece": ece, "bins": rows}


def _environment(runs: list[ValidationRun]) -> dict:
    with_, without, accuracies, lifts = [], [], [], []
    for run in runs:
        s = run.metrics["summary"]
        mae_with = s["with_area_predictors"]["mae_points_mean"]
        mae_without = s["without_area_predictors"]["mae_points_mean"]
        if mae_with is None or mae_without is None:
            continue
        k = run.metrics.get("options") or run.question.options.count()
        with_.append(mae_with)
        without.append(mae_without)
        accuracies.append(1 - k / 2 * mae_with / 100)
        lifts.append(s["lift_points_mean"])
    return {
        "accuracy": _mean(accuracies),
        "relative": 1 - np.mean(with_) / np.mean(without) if without and np.mean(without) else None,
        "lift_points": _mean(lifts),
        "questions": len(accuracies),
    }


def accuracy_report(runs: list[ValidationRun], *, days: int, now: dt.datetime) -> dict:
    """The report of the runs created in the window (completed and failed; see DEFINITIONS)."""
    completed = [r for r in runs if r.status == ValidationRun.Status.COMPLETED]
    failed = [r for r in runs if r.status == ValidationRun.Status.FAILED]
    holdout_all = [
        r for r in completed if r.design == ValidationRun.Design.HOLDOUT and "overall" in r.metrics
    ]
    holdout = _latest_per_question(holdout_all)
    areas = _latest_per_question(
        [r for r in completed if r.design == ValidationRun.Design.LEAVE_AREAS_OUT]
    )

    overall = _mean(run_accuracy(r) for r in holdout)
    by_topic_runs: dict[str, list[ValidationRun]] = defaultdict(list)
    for run in holdout:
        for topic in _topics(run):
            by_topic_runs[topic].append(run)
    by_topic = {
        topic: {"accuracy": _mean(run_accuracy(r) for r in rs), "questions": len(rs)}
        for topic, rs in sorted(by_topic_runs.items())
    }
    methods = sorted({m for r in holdout for m in r.metrics.get("methods", [])})
    by_backend = {}
    for method in methods:
        scored = [r for r in holdout if method in r.metrics["methods"]]
        by_backend[method] = {
            "accuracy": _mean(run_accuracy(r, method) for r in scored),
            "coverage": _mean(
                r.metrics.get("coverage", {}).get(method, {}).get("all_groups") for r in scored
            ),
            "ece": _mean(
                r.metrics.get("calibration", {}).get(method, {}).get("ece") for r in scored
            ),
            "questions": len(scored),
        }
    days_runs: dict[dt.date, list[ValidationRun]] = defaultdict(list)
    for run in holdout_all:
        days_runs[run.created_at.date()].append(run)
    trend = [
        {"date": day, "accuracy": _mean(run_accuracy(r) for r in rs), "runs": len(rs)}
        for day, rs in sorted(days_runs.items())
    ]
    environment = _environment(areas)
    report = {
        "calibration": {m: _pooled_calibration(holdout, m) for m in methods},
        "report_id": f"acc_rpt_{now:%Y%m%d}_{days}d",
        "days": days,
        "window_start": now - dt.timedelta(days=days),
        "window_end": now,
        "runs": {
            "holdout": len(holdout_all),
            "holdout_questions": len(holdout),
            "leave_areas_out_questions": len(areas),
            "failed": len(failed),
        },
        "overall_accuracy": overall,
        "environmental_accuracy": environment["accuracy"],
        "accuracy_by_topic": by_topic,
        "accuracy_by_backend": by_backend,
        "accuracy_trend": trend,
        "environmental_improvements": {
            "baseline_vs_environmental": environment["relative"],
            "lift_points": environment["lift_points"],
            "geographic_prediction_accuracy": _mean(_geographic(r) for r in holdout),
        },
        "definitions": DEFINITIONS,
    }
    report["recommendations"] = _recommendations(report, holdout, failed)
    return report


def _advice(code: str, message: str, measurement: str, value, threshold=None) -> dict:
    return {
        "code": code,
        "message": message,
        "measurement": measurement,
        "value": value,
        "threshold": threshold,
    }


def _recommendations(report: dict, holdout: list[ValidationRun], failed: list) -> list[dict]:
    """Advice from measured weaknesses, each naming the report field it comes from."""
    return [
        *_data_advice(report, holdout, failed),
        *_topic_advice(report),
        *_backend_advice(report),
        *_environment_advice(report),
    ]


def _data_advice(report: dict, holdout: list[ValidationRun], failed: list) -> list[dict]:
    out = []
    if not holdout:
        out.append(
            _advice(
                "no_validation",
                f"No held-out validation completed in the last {report['days']} days; import a "
                "poll (its large questions become targets) or run celery beat to validate them.",
                "runs.holdout_questions",
                0,
            )
        )
    small_states: dict[str, int] = defaultdict(int)
    for run in holdout:
        for state in run.metrics.get("by_dimension", {}).get("state", {}).get("small_groups", {}):
            small_states[state] += 1
    if small_states:
        listed = sorted(small_states)[:THIN_STATES_LISTED]
        more = ", …" if len(small_states) > len(listed) else ""
        out.append(
            _advice(
                "thin_areas",
                f"{len(small_states)} states had fewer held-out respondents than min_group in "
                f"the latest runs ({', '.join(listed)}{more}); their accuracy is not measured "
                "well — import polls with more respondents there.",
                "by_dimension.state.small_groups",
                len(small_states),
            )
        )
    if failed:
        questions = sorted({str(r.question_id) for r in failed})
        out.append(
            _advice(
                "failing_validation",
                f"{len(failed)} validation run(s) failed (questions {', '.join(questions)}); the "
                f"latest said: {failed[-1].error_message or 'no message'}",
                "runs.failed",
                len(failed),
            )
        )
    return out


def _topic_advice(report: dict) -> list[dict]:
    out = []
    overall = report["overall_accuracy"]
    for topic, t in report["accuracy_by_topic"].items():
        if (
            overall is not None
            and t["accuracy"] is not None
            and t["accuracy"] < overall - TOPIC_GAP
        ):
            out.append(
                _advice(
                    "weak_topic",
                    f"Topic '{topic}' is predicted at {t['accuracy']:.3f}, {overall - t['accuracy']:.3f} "
                    f"below the overall {overall:.3f}: import more polls on it or check its "
                    "questions' respondents.",
                    f"accuracy_by_topic.{topic}.accuracy",
                    t["accuracy"],
                    round(overall - TOPIC_GAP, 6),
                )
            )
        if t["questions"] < MIN_TOPIC_QUESTIONS:
            out.append(
                _advice(
                    "thin_topic",
                    f"Topic '{topic}' rests on {t['questions']} validated question(s); its "
                    f"accuracy needs at least {MIN_TOPIC_QUESTIONS} to be more than one poll's.",
                    f"accuracy_by_topic.{topic}.questions",
                    t["questions"],
                    MIN_TOPIC_QUESTIONS,
                )
            )
    return out


def _backend_advice(report: dict) -> list[dict]:
    out = []
    overall = report["overall_accuracy"]
    for method, b in report["accuracy_by_backend"].items():
        if method in BASELINES:
            continue
        if b["coverage"] is not None and b["coverage"] < COVERAGE_FLOOR:
            out.append(
                _advice(
                    "coverage_off",
                    f"{method}'s 95% intervals cover {b['coverage']:.0%} of observed group shares "
                    f"(below {COVERAGE_FLOOR:.0%}): its errors exceed its intervals; widen them "
                    "or fix the bias.",
                    f"accuracy_by_backend.{method}.coverage",
                    b["coverage"],
                    COVERAGE_FLOOR,
                )
            )
        if b["ece"] is not None and b["ece"] > ECE_CEILING:
            out.append(
                _advice(
                    "miscalibrated",
                    f"{method}'s expected calibration error is {b['ece']:.3f} (above "
                    f"{ECE_CEILING}): its probabilities are not the frequencies they claim.",
                    f"accuracy_by_backend.{method}.ece",
                    b["ece"],
                    ECE_CEILING,
                )
            )
    marginal = report["accuracy_by_backend"].get("national_marginal", {}).get("accuracy")
    if overall is not None and marginal is not None and overall <= marginal:
        out.append(
            _advice(
                "no_better_than_baseline",
                f"The platform's backend ({overall:.3f}) is no more accurate than the national "
                f"marginal baseline ({marginal:.3f}) over the whole held-out samples.",
                "overall_accuracy",
                overall,
                marginal,
            )
        )
    return out


def _environment_advice(report: dict) -> list[dict]:
    out = []
    env = report["environmental_improvements"]
    if report["runs"]["leave_areas_out_questions"] == 0:
        out.append(
            _advice(
                "no_environmental_measurement",
                "No leave-areas-out run in the window: the environmental figures are unmeasured; "
                "queue one at POST /api/v1/validation/designs/.",
                "runs.leave_areas_out_questions",
                0,
            )
        )
    elif env["lift_points"] is not None and env["lift_points"] <= 0:
        out.append(
            _advice(
                "no_environmental_lift",
                f"Area predictors did not reduce the held-out states' error (lift "
                f"{env['lift_points']:.2f} points): the environmental context adds nothing here.",
                "environmental_improvements.lift_points",
                env["lift_points"],
                0,
            )
        )
    return out
