"""The accuracy report's every field, from runs with known metrics (hand arithmetic in comments)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from polls.models import Option, Poll, Question
from validation.models import ValidationRun

pytestmark = pytest.mark.django_db
URL = "/api/v1/validation/accuracy-report"


def _question(code: str, tags: list[str], options: int = 2) -> Question:
    poll = Poll.objects.create(
        slug=f"p-{code}", title=code, pollster="t", population="t", source="t"
    )
    question = Question.objects.create(poll=poll, code=code, text=code, topic_tags=tags)
    for i in range(options):
        Option.objects.create(question=question, code=f"o{i}", label=f"o{i}", order=i)
    return question


def _holdout(tv: dict, coverage: dict, ece: dict, state_tv: float | None = None, small=()):
    metrics: dict = {
        "methods": list(tv),
        "overall": {"methods": {m: {"total_variation": v} for m, v in tv.items()}},
        "coverage": {m: {"all_groups": v} for m, v in coverage.items()},
        "calibration": {m: {"ece": v} for m, v in ece.items()},
        "by_dimension": {},
    }
    if state_tv is not None:
        primary = "poll_model" if "poll_model" in tv else "model"
        metrics["by_dimension"]["state"] = {
            "small_groups": {s: 3 for s in small},
            "summary": {"large_groups": {"methods": {primary: {"total_variation": state_tv}}}},
        }
    return metrics


def _areas(options: int | None, mae_with: float, mae_without: float) -> dict:
    summary = {
        "with_area_predictors": {"mae_points_mean": mae_with},
        "without_area_predictors": {"mae_points_mean": mae_without},
        "lift_points_mean": mae_without - mae_with,
    }
    return {
        "design": "leave_areas_out",
        "summary": summary,
        **({"options": options} if options else {}),
    }


def _run(question, metrics, days_ago: float, *, design="holdout", status="completed", error=""):
    run = ValidationRun.objects.create(
        question=question,
        design=design,
        status=status,
        seed=0,
        metrics=metrics,
        error_message=error,
    )
    ValidationRun.objects.filter(id=run.id).update(
        created_at=timezone.now() - dt.timedelta(days=days_ago)
    )
    return run


@pytest.fixture
def runs():
    q1 = _question("q1", ["abortion"])
    q2 = _question("q2", ["abortion", "health"], options=3)
    q3 = _question("q3", [])
    pm = "poll_model"
    # q1: an older run (acc 0.80) superseded by a newer one (acc 0.90).
    _run(q1, _holdout({pm: 0.20}, {pm: 0.5}, {pm: 0.5}), 3)
    _run(
        q1,
        _holdout({pm: 0.10, "national_marginal": 0.30}, {pm: 0.80, "national_marginal": 0.5},
                 {pm: 0.02, "national_marginal": 0.0}, state_tv=0.15, small=["WY"]),
        1,
    )  # fmt: skip
    # q2: the poll model could not be fitted; the poll-cell method is its backend (acc 0.60).
    _run(
        q2,
        _holdout({"model": 0.40, "national_marginal": 0.25}, {"model": 0.60}, {"model": 0.08},
                 state_tv=0.35, small=["WY", "VT"]),
        1,
    )  # fmt: skip
    _run(q3, _holdout({pm: 0.05, "national_marginal": 0.20}, {pm: 0.85}, {pm: 0.01}), 2)
    _run(q3, _holdout({pm: 0.90}, {pm: 0.0}, {pm: 0.9}), 40)  # outside a 30-day window
    _run(q3, {}, 1, status="failed", error="too few respondents")
    _run(q3, {}, 1, status="queued")  # not finished: not counted
    _run(q1, _areas(2, 4.0, 6.0), 2, design="leave_areas_out")
    _run(q2, _areas(None, 2.0, 2.0), 1, design="leave_areas_out")  # options from the question: 3
    return q1, q2, q3


def test_every_field_is_the_arithmetic_of_the_runs_in_the_window(api, runs):
    response = api.get(URL, {"days": 30})
    assert response.status_code == 200, response.content
    r = response.json()
    assert r["runs"] == {
        "holdout": 4, "holdout_questions": 3, "leave_areas_out_questions": 2, "failed": 1
    }  # fmt: skip
    # Latest run per question: 1 − 0.10, 1 − 0.40, 1 − 0.05.
    assert r["overall_accuracy"] == pytest.approx((0.90 + 0.60 + 0.95) / 3)
    assert r["accuracy_by_topic"] == {
        "abortion": {"accuracy": pytest.approx(0.75), "questions": 2},
        "health": {"accuracy": pytest.approx(0.60), "questions": 1},
        "untagged": {"accuracy": pytest.approx(0.95), "questions": 1},
    }
    backends = r["accuracy_by_backend"]
    assert backends["poll_model"] == {
        "accuracy": pytest.approx(0.925), "coverage": pytest.approx(0.825),
        "ece": pytest.approx(0.015), "questions": 2,
    }  # fmt: skip
    assert backends["model"] == {
        "accuracy": pytest.approx(0.60), "coverage": pytest.approx(0.60),
        "ece": pytest.approx(0.08), "questions": 1,
    }  # fmt: skip
    assert backends["national_marginal"]["accuracy"] == pytest.approx((0.70 + 0.75 + 0.80) / 3)
    today = timezone.now()
    assert r["accuracy_trend"] == [
        {
            "date": str((today - dt.timedelta(days=d)).date()),
            "accuracy": pytest.approx(a),
            "runs": n,
        }
        for d, a, n in ((3, 0.80, 1), (2, 0.95, 1), (1, 0.75, 2))
    ]
    # Leave-areas-out: 1 − k/2 × MAE/100 = 1 − 0.04 (k 2) and 1 − 0.03 (k 3).
    assert r["environmental_accuracy"] == pytest.approx((0.96 + 0.97) / 2)
    env = r["environmental_improvements"]
    assert env["baseline_vs_environmental"] == pytest.approx(1 - 3.0 / 4.0)
    assert env["lift_points"] == pytest.approx(1.0)
    assert env["geographic_prediction_accuracy"] == pytest.approx((0.85 + 0.65) / 2)
    assert r["report_id"].startswith("acc_rpt_") and r["days"] == 30
    assert set(r["definitions"]) >= {"overall_accuracy", "environmental_accuracy"}


def test_recommendations_name_the_weakness_they_come_from(api, runs):
    advice = api.get(URL).json()["recommendations"]
    by_measurement = {a["measurement"]: a for a in advice}
    overall = (0.90 + 0.60 + 0.95) / 3
    assert set(by_measurement) == {
        "accuracy_by_topic.abortion.accuracy",  # 0.75 < overall − 0.05
        "accuracy_by_topic.health.accuracy",
        "accuracy_by_topic.health.questions",  # one question
        "accuracy_by_topic.untagged.questions",
        "accuracy_by_backend.model.coverage",  # 0.60 < 0.75
        "accuracy_by_backend.model.ece",  # 0.08 > 0.05
        "by_dimension.state.small_groups",  # WY and VT
        "runs.failed",
    }
    weak = by_measurement["accuracy_by_topic.abortion.accuracy"]
    assert weak["code"] == "weak_topic" and weak["value"] == pytest.approx(0.75)
    assert weak["threshold"] == pytest.approx(overall - 0.05)
    assert by_measurement["by_dimension.state.small_groups"]["value"] == 2
    assert "VT, WY" in by_measurement["by_dimension.state.small_groups"]["message"]
    assert "too few respondents" in by_measurement["runs.failed"]["message"]


def test_an_empty_window_measures_nothing_and_says_so(api, runs):
    ValidationRun.objects.update(created_at=timezone.now() - dt.timedelta(days=400))
    r = api.get(URL, {"days": 7}).json()
    assert r["overall_accuracy"] is None and r["environmental_accuracy"] is None
    assert r["accuracy_by_topic"] == {} and r["accuracy_trend"] == []
    assert {a["code"] for a in r["recommendations"]} == {
        "no_validation", "no_environmental_measurement"
    }  # fmt: skip


def test_no_area_lift_is_a_recommendation(api):
    q = _question("flat", ["x"])
    _run(q, _areas(2, 5.0, 4.5), 1, design="leave_areas_out")
    advice = {a["code"]: a for a in api.get(URL).json()["recommendations"]}
    assert advice["no_environmental_lift"]["value"] == pytest.approx(-0.5)
    assert (
        advice["no_environmental_lift"]["measurement"] == "environmental_improvements.lift_points"
    )


@pytest.mark.parametrize("days", ["abc", "0", "-3", "100000"])
def test_a_bad_days_is_a_400_that_says_what_to_send(api, days):
    response = api.get(URL, {"days": days})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "days" in error["fields"] and "days" in error["message"]


def test_the_calibration_tables_of_the_latest_runs_are_pooled(api):
    def table(*bins):
        keys = ("bin", "count", "mean_predicted", "observed_frequency")
        return {"poll_model": {"bins": [dict(zip(keys, b, strict=True)) for b in bins]}}

    for code, bins in (
        ("c1", [([0, 0.5], 4, 0.2, 0.25), ([0.5, 1], 4, 0.8, 0.75)]),
        ("c2", [([0, 0.5], 2, 0.35, 0.5)]),
    ):
        metrics = _holdout({"poll_model": 0.1}, {"poll_model": 0.8}, {"poll_model": 0.0})
        _run(_question(code, []), {**metrics, "calibration": table(*bins)}, 1)
    pooled = api.get(URL).json()["calibration"]["poll_model"]
    low, high = pooled["bins"]
    # (4·0.2 + 2·0.35)/6 = 0.25 predicted, (4·0.25 + 2·0.5)/6 = 1/3 observed.
    assert low == {"bin": [0, 0.5], "count": 6, "mean_predicted": pytest.approx(0.25),
                   "observed_frequency": pytest.approx(1 / 3)}  # fmt: skip
    assert high["count"] == 4 and high["mean_predicted"] == pytest.approx(0.8)
    # ECE = (6·|0.25 − 1/3| + 4·|0.8 − 0.75|) / 10 = 0.07.
    assert pooled["forecasts"] == 10 and pooled["ece"] == pytest.approx(0.07)
