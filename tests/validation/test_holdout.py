from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from config.errors import DomainError
from validation.metrics import js_distance, mae_points, representativeness, total_variation
from validation.models import ValidationRun
from validation.services import validation_run_holdout

pytestmark = pytest.mark.django_db


def test_metrics_match_their_definitions():
    p, q = [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]
    assert mae_points(p, q) == pytest.approx(20.0)
    assert total_variation(p, q) == pytest.approx(0.3)
    assert js_distance(p, p) == pytest.approx(0.0)
    assert 0 < js_distance(p, q) < 1
    # W1 between the two over positions 1,2,3 is 0.6; the span is 2.
    assert representativeness(p, q, [1, 2, 3]) == pytest.approx(1 - 0.6 / 2)
    assert representativeness(p, q, None) is None


def test_the_cell_model_beats_the_uniform_baseline_on_held_out_cces_respondents(cces_question):
    run = validation_run_holdout(question=cces_question, holdout_fraction=0.2, seed=1)
    assert run.n_test == pytest.approx(0.2 * 59_756, rel=0.05)
    assert run.n_train + run.n_test == 59_756
    overall = run.metrics["overall"]["methods"]
    assert overall["model"]["mae_points"] < overall["uniform"]["mae_points"]
    # Within groups the demographic cells must earn their keep against one national figure.
    for dimension in ("education", "race_ethnicity", "state"):
        summary = run.metrics["by_dimension"][dimension]["summary"]
        assert summary["model"]["mae_points"] < summary["national_marginal"]["mae_points"], (
            dimension
        )
    assert 0 <= run.metrics["coverage"] <= 1
    assert run.metrics["by_dimension"]["education"]["rank_correlation_first_option"]["model"] > 0


def test_the_same_seed_gives_the_same_report(cces_question):
    first = validation_run_holdout(question=cces_question, holdout_fraction=0.1, seed=4)
    second = validation_run_holdout(question=cces_question, holdout_fraction=0.1, seed=4)
    assert first.metrics == second.metrics


def test_group_predictions_are_distributions(cces_question):
    run = validation_run_holdout(question=cces_question, holdout_fraction=0.1, seed=2)
    for group in run.metrics["by_dimension"]["sex"]["groups"]:
        for method in group["methods"].values():
            assert np.sum(method["predicted"]) == pytest.approx(1.0)
        assert np.sum(group["observed"]) == pytest.approx(1.0)


@pytest.mark.parametrize("fraction", [0, 1, 1.5])
def test_a_bad_holdout_fraction_is_refused(cces_question, fraction):
    with pytest.raises(DomainError, match="strictly between 0 and 1"):
        validation_run_holdout(question=cces_question, holdout_fraction=fraction)
    assert not ValidationRun.objects.exists()


def test_the_api_runs_and_lists_validations(api, cces_question):
    response = api.post(
        "/api/v1/validation/runs/", {"question": cces_question.id, "seed": 3}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["metrics"]["options"] == ["support", "oppose"]
    listed = api.get("/api/v1/validation/runs/").json()["results"]
    assert listed[0]["id"] == response.json()["id"]
    unknown = api.post("/api/v1/validation/runs/", {"question": 999999}, format="json")
    assert unknown.status_code == 400 and "999999" in unknown.json()["error"]["message"]


def test_the_command_prints_model_and_baselines():
    out = StringIO()
    call_command(
        "validate_question",
        poll="anes-1996",
        question="self-placement-left-right",
        seed=1,
        stdout=out,
    )
    text = out.getvalue()
    for method in ("model", "demographics_without_state", "national_marginal", "uniform"):
        assert method in text
    assert "Coverage of 95% intervals" in text


@pytest.mark.parametrize(
    ("fraction", "problem", "advice"),
    [
        (1e-9, "holds out 0 of 59,756", "raise holdout_fraction to at least 0.0007"),
        (
            0.0001,
            "holdout_fraction=0.0001 holds out 12 of 59,756",
            "raise holdout_fraction to at least 0.0007",
        ),
        (
            0.9999,
            "holdout_fraction=0.9999 leaves 3 of 59,756",
            "lower holdout_fraction to at most 0.9993",
        ),
        (1 - 1e-9, "leaves 0 of 59,756", "lower holdout_fraction to at most 0.9993"),
    ],
)
def test_a_holdout_too_small_or_too_large_to_measure_is_a_400_saying_why(
    api, cces_question, fraction, problem, advice
):
    response = api.post(
        "/api/v1/validation/runs/",
        {"question": cces_question.id, "holdout_fraction": fraction, "seed": 1},
        format="json",
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_holdout"
    assert problem in error["message"] and advice in error["message"], error["message"]
    assert "holdout_fraction" in error["fields"]
    assert not ValidationRun.objects.exists()
