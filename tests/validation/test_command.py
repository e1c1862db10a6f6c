"""`manage.py validate_question`: every design inline, every metric printed, bad input refused
with what to fix."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.validation.factories import VOTE_STATES, vote_poll
from validation.holdout import METHODS
from validation.models import ValidationRun

pytestmark = pytest.mark.django_db
ANES = {"poll": "anes-1996", "question": "self-placement-left-right"}


def _run(*args, **options) -> str:
    out = StringIO()
    call_command("validate_question", *args, stdout=out, **options)
    return out.getvalue()


def test_the_holdout_prints_every_metric_for_every_method():
    text = _run(seed=1, **ANES)
    for method in METHODS:
        assert f"\n    {method} " in text, method
    for column in ("MAE pts", "TVD", "JS", "repr", "rank r", "coverage"):
        assert column in text
    # Small groups are shown with their n; constant baselines have no rank correlation.
    assert "By age: 6 groups; small (n < 30, included in 'all groups'): 18_24 " in text
    assert "large_groups (groups with n >= 30 only;" in text
    uniform_rows = [line for line in text.splitlines() if line.startswith("    uniform ")]
    assert uniform_rows and all(" none " in row for row in uniform_rows[1:])
    assert "Coverage of 95% intervals, pooled over (group, option) pairs" in text
    assert "Kish effective sample size" in text
    run = ValidationRun.objects.get()
    assert run.design == ValidationRun.Design.HOLDOUT and run.seed == 1


def test_official_results_runs_inline_and_prints_the_comparison():
    vote_poll()
    text = _run(
        "--design=official-results",
        "--option=dem",
        "--party=dem",
        "--election-year=2016",
        poll="vote-2016",
        question="vote",
    )
    run = ValidationRun.objects.get()
    assert run.status == ValidationRun.Status.COMPLETED
    assert run.params == {"option_code": "dem", "party": "dem", "election_year": 2016}
    assert f"Validation #{run.id} (stored; also at /api/v1/validation/runs/{run.id}/)" in text
    assert "Option 'dem' against the dem two-party share, 2016" in text
    assert f"{len(VOTE_STATES)} areas" in text


def test_leave_areas_out_runs_inline_with_its_parameters():
    vote_poll(2000)
    text = _run(
        "--design=leave-areas-out",
        "--held-out=2",
        "--seeds=1",
        "--min-state-respondents=100",
        "--seed=3",
        poll="vote-2016",
        question="vote",
    )
    run = ValidationRun.objects.get()
    assert run.params == {"held_out": 2, "seeds": 1, "min_state_respondents": 100}
    assert run.metrics["runs"][0]["seed"] == 3
    assert "environmental lift:" in text and "seed 3, held out" in text


def test_subsample_runs_inline_with_its_parameters():
    vote_poll(3000)
    text = _run(
        "--design=subsample",
        "--size=1000",
        "--seeds=1",
        "--min-state-respondents=250",
        "--without-area-predictors",
        poll="vote-2016",
        question="vote",
    )
    run = ValidationRun.objects.get()
    assert run.params == {
        "size": 1000,
        "seeds": 1,
        "min_state_respondents": 250,
        "area_predictors": False,
    }
    assert f"{len(VOTE_STATES)} states with a known truth" in text
    assert "model: mean state MAE" in text and "raw_subsample: mean state MAE" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size=100"], "--size do(es) not apply to --design holdout; it takes --holdout"),
        (
            ["--design=subsample", "--held-out=3"],
            "--held-out do(es) not apply to --design subsample",
        ),
        (["--design=leave-areas-out", "--holdout=0.3"], "--holdout do(es) not apply"),
        (
            ["--design=official-results", "--party=dem"],
            "--design official-results needs --option, --election-year",
        ),
        (["--design=subsample", "--seeds=50"], "'seeds' must be from 1 to 20"),
        (["--design=subsample", "--size=0"], "'size' must be at least 1"),
        (["--holdout=1.5"], "holdout_fraction must be strictly between 0 and 1"),
        (["--min-group=0"], "--min-group must be at least 1"),
        (["--seed=-1"], "--seed must be 0 or more"),
        (["--design=census"], "invalid choice: 'census'"),
    ],
)
def test_bad_input_is_refused_with_what_to_fix(args, message):
    with pytest.raises(CommandError) as error:
        _run(*args, **ANES)
    assert message in str(error.value)
    assert error.value.returncode != 0  # what `manage.py` exits with
    assert not ValidationRun.objects.exists()


def test_an_unknown_question_names_the_polls_questions():
    with pytest.raises(CommandError, match="No question 'nope' in poll 'anes-1996'; its questions"):
        _run(poll="anes-1996", question="nope")
    with pytest.raises(CommandError, match="No poll 'nope'"):
        _run(poll="nope", question="x")


def test_a_design_that_fails_is_an_error_saying_why():
    vote_poll(200)
    with pytest.raises(CommandError, match="failed: question vote has no option 'green'"):
        _run(
            "--design=official-results",
            "--option=green",
            "--party=dem",
            "--election-year=2016",
            poll="vote-2016",
            question="vote",
        )
    assert ValidationRun.objects.get().status == ValidationRun.Status.FAILED
