"""Area-level validation runs through the API: queued, run by the worker, stored with metrics."""

from __future__ import annotations

import pytest

from tests.validation.factories import VOTE_STATES, vote_poll
from validation.area import leave_areas_out, official_results
from validation.models import ValidationRun
from validation.report import design_lines

pytestmark = pytest.mark.django_db


def test_official_results_design_recovers_the_state_results_a_poll_was_drawn_from():
    question = vote_poll()
    report = official_results(question, option_code="dem", party="dem", election_year=2016)
    assert report["model"]["areas_compared"] == len(VOTE_STATES)
    assert report["model"]["pearson_r"] > 0.9
    assert report["model"]["mae_points"] < 3.0
    assert abs(report["model"]["bias_points"]) < 2.0
    assert "raw_poll" in report and report["raw_poll"]["mae_points"] > 0
    assert any(
        "Option 'dem' against the dem two-party share, 2016" in line
        for line in design_lines(report)
    )


def test_official_results_refuses_an_option_the_question_lacks():
    question = vote_poll(200)
    with pytest.raises(ValueError, match="has no option 'green'; its options are dem, gop"):
        official_results(question, option_code="green", party="dem", election_year=2016)


def test_leave_areas_out_reports_the_lift_per_seed():
    question = vote_poll()
    report = leave_areas_out(question, held_out=3, seeds=range(2), min_state_respondents=100)
    assert len(report["runs"]) == 2
    for run in report["runs"]:
        assert len(run["held_out"]) == 3
        assert run["lift_points"] == pytest.approx(
            run["without_area_predictors"]["mae_points"] - run["with_area_predictors"]["mae_points"]
        )
    assert report["summary"]["lift_positive_in"].endswith("of 2 seeds")


def test_a_design_is_queued_run_and_stored_through_the_api(api, django_capture_on_commit_callbacks):
    question = vote_poll()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/validation/designs/",
            {
                "question": question.id,
                "design": "official_results",
                "params": {"option_code": "dem", "party": "dem", "election_year": 2016},
            },
            format="json",
        )
    assert response.status_code == 202, response.content
    run = ValidationRun.objects.get(id=response.json()["id"])
    assert run.status == ValidationRun.Status.COMPLETED
    body = api.get(f"/api/v1/validation/runs/{run.id}/").json()
    assert body["design"] == "official_results"
    assert body["progress"] == {"done": 2, "total": 2}
    assert body["metrics"]["model"]["areas_compared"] == len(VOTE_STATES)


def test_a_design_with_wrong_parameters_is_refused_with_what_to_fix(api, cces_question):
    response = api.post(
        "/api/v1/validation/designs/",
        {"question": cces_question.id, "design": "official_results", "params": {"party": 3}},
        format="json",
    )
    assert response.status_code == 400
    message = (
        response.json()["error"]["message"] if "error" in response.json() else str(response.json())
    )
    assert "'option_code' is required" in message
    assert "'party' must be str" in message
    assert not ValidationRun.objects.exists()


def test_subsample_design_compares_model_raw_and_cell_estimates_by_state(cces_question):
    from validation.area import subsample_design

    report = subsample_design(cces_question, size=3000, seeds=range(1), min_state_respondents=2500)
    states = report["states"]
    assert states and all(report["state_respondents"][s] >= 2500 for s in states)
    run = report["runs"][0]
    for method in ("model", "raw_subsample", "poll_cell"):
        assert len(run[method]["states"]) == len(states)
        assert 0 < run[method]["mae_points"] < 20
    assert 0 <= run["model"]["coverage"] <= 1
    assert run["raw_subsample"]["coverage"] is None  # no interval to cover with
    assert set(report["summary"]) == {"model", "raw_subsample", "poll_cell"}
    assert any("mean state MAE" in line for line in design_lines(report))


def test_subsample_design_refuses_a_subsample_as_large_as_the_poll(cces_question):
    from validation.area import subsample_design

    with pytest.raises(ValueError, match="is not smaller than the poll"):
        subsample_design(cces_question, size=10**6, seeds=range(1))
