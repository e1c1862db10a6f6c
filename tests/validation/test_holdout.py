from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from config.errors import DomainError
from polls.models import Question
from tests.validation.factories import bare_poll, weighted_poll
from validation.holdout import METHODS, answers_frame, holdout_report
from validation.metrics import js_distance, mae_points, representativeness, total_variation
from validation.models import ValidationRun
from validation.scoring import effective_n, rank_correlation
from validation.services import validation_run_holdout

pytestmark = pytest.mark.django_db
BASELINES = ("national_marginal", "uniform")


@pytest.fixture(scope="module")
def cces_report(django_db_blocker):
    """One held-out report on the bundled CCES item, shared by the tests that only read it (the
    poll model is fitted once; nothing is written)."""
    with django_db_blocker.unblock():
        question = Question.objects.select_related("poll").get(poll__slug="cces-2018-abortion")
        report = holdout_report(
            question=question, holdout_fraction=0.2, seed=1, min_cell=30, min_group=30
        )
        return SimpleNamespace(
            metrics=report.metrics,
            n_train=report.n_train,
            n_test=report.n_test,
            frame=answers_frame(question),
        )


def test_metrics_match_their_definitions():
    p, q = [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]
    assert mae_points(p, q) == pytest.approx(20.0)
    assert total_variation(p, q) == pytest.approx(0.3)
    assert js_distance(p, p) == pytest.approx(0.0)
    assert 0 < js_distance(p, q) < 1
    # W1 between the two over positions 1,2,3 is 0.6; the span is 2.
    assert representativeness(p, q, [1, 2, 3]) == pytest.approx(1 - 0.6 / 2)
    assert representativeness(p, q, None) is None


def test_the_poll_model_and_the_cells_beat_the_baselines_on_held_out_cces(cces_report):
    m = cces_report.metrics
    assert cces_report.n_test == pytest.approx(0.2 * 59_756, rel=0.05)
    assert cces_report.n_train + cces_report.n_test == 59_756
    assert m["methods"] == list(METHODS) and m["unavailable"] == {}
    assert m["poll_model"]["area_predictors"] == {
        "prior_presidential_vote": "presidential election 2016"
    }
    overall = m["overall"]["methods"]
    assert overall["poll_model"]["mae_points"] < overall["uniform"]["mae_points"]
    for dimension in ("education", "race_ethnicity", "age", "state"):
        scores = m["by_dimension"][dimension]["summary"]["large_groups"]["methods"]
        for method in ("model", "poll_model"):
            assert scores[method]["mae_points"] < scores["national_marginal"]["mae_points"], (
                dimension,
                method,
            )
    # The state is what the model pools: it must beat the cells that leave the state out.
    by_state = m["by_dimension"]["state"]["summary"]["all_groups"]["methods"]
    assert (
        by_state["poll_model"]["mae_points"] < by_state["demographics_without_state"]["mae_points"]
    )
    assert by_state["poll_model"]["rank_correlation_first_option"] > 0.5
    ranks = m["by_dimension"]["education"]["summary"]["all_groups"]["methods"]
    assert ranks["poll_model"]["rank_correlation_first_option"] > 0
    assert ranks["model"]["rank_correlation_first_option"] > 0


def test_every_state_is_reported_with_its_n_and_small_ones_are_flagged(cces_report):
    state = cces_report.metrics["by_dimension"]["state"]
    held_out_states = {g["group"] for g in state["groups"]}
    assert held_out_states == set(cces_report.frame["state"]) - {""}
    assert sum(g["n"] for g in state["groups"]) + state["without_value"] == cces_report.n_test
    small = {g["group"]: g["n"] for g in state["groups"] if g["small"]}
    assert small and all(n < 30 for n in small.values())
    assert all(g["n"] >= 30 for g in state["groups"] if not g["small"])
    assert state["small_groups"] == small
    every, large = state["summary"]["all_groups"], state["summary"]["large_groups"]
    assert every["groups"] == len(held_out_states)
    assert large["groups"] == len(held_out_states) - len(small)
    assert every["respondents"] - large["respondents"] == sum(small.values())
    assert "whatever its n" in every["description"] and ">= 30" in large["description"]


def test_a_constant_baseline_has_no_rank_correlation(cces_report):
    for dimension, d in cces_report.metrics["by_dimension"].items():
        for scope, summary in d["summary"].items():
            for method in BASELINES:
                r = summary["methods"][method]["rank_correlation_first_option"]
                assert r is None, (dimension, scope, method, r)


def test_rank_correlation_ignores_floating_point_noise_but_not_real_differences():
    # The national marginal, averaged within groups, differs in the 14th decimal: once ±0.88.
    noise = [0.4340730524908123, 0.4340730524908131, 0.4340730524908126, 0.4340730524908404]
    assert rank_correlation(noise, [0.30, 0.50, 0.40, 0.60]) is None
    assert rank_correlation([0.1, 0.2, 0.3], [0.2, 0.2, 0.2]) is None
    assert rank_correlation([0.1, 0.2], [0.1, 0.2]) is None
    assert rank_correlation([0.1, 0.2, 0.3], [0.3, 0.5, 0.4]) == pytest.approx(0.5)


def test_coverage_is_reported_per_method_overall_and_by_dimension(cces_report):
    m = cces_report.metrics
    assert set(m["coverage"]) == set(METHODS)
    for method, c in m["coverage"].items():
        assert set(c["by_dimension"]) == set(m["by_dimension"])
        for value in (c["whole_sample"], c["all_groups"], c["large_groups"]):
            assert 0 <= value <= 1
        for dimension, d in m["by_dimension"].items():
            summary = d["summary"]["all_groups"]["methods"][method]
            assert c["by_dimension"][dimension]["all_groups"] == summary["coverage"]
    assert "Kish" in m["definitions"]["coverage"]
    # Equal weights: the interval is the plain Wilson interval of the simulated counts.
    group = m["by_dimension"]["education"]["groups"][0]
    scored = group["methods"]["poll_model"]
    counts = np.round(np.array(scored["simulated"]) * group["n"])
    low, high = proportion_confint(counts, group["n"], alpha=0.05, method="wilson")
    assert group["n_effective"] == group["n"]
    assert np.array(scored["interval"]) == pytest.approx(np.c_[low, high], abs=1e-6)


def test_weighted_shares_get_intervals_on_kishs_effective_sample_size():
    question = weighted_poll()
    report = holdout_report(
        question=question, holdout_fraction=0.5, seed=2, min_cell=30, min_group=30
    )
    group = report.metrics["by_dimension"]["state"]["groups"][0]
    # One respondent in seven weighs twelve: Kish's n_eff is about 31 % of n.
    assert 0.2 < group["n_effective"] / group["n"] < 0.45
    scored = group["methods"]["national_marginal"]
    low, high = proportion_confint(
        np.array(scored["simulated"]) * group["n_effective"],
        group["n_effective"],
        alpha=0.05,
        method="wilson",
    )
    assert np.array(scored["interval"]) == pytest.approx(np.c_[low, high], abs=1e-4)
    # A calibrated prediction (everyone answers alike) is covered about as often as a perfect one
    # can be (83 %, the observed share being noisy too); intervals on the raw n, about half as
    # wide, were covered about 60 % of the time.
    coverage = report.metrics["coverage"]["national_marginal"]["by_dimension"]["state"]
    assert coverage["all_groups"] >= 0.7, coverage


def test_the_same_seed_gives_the_same_report():
    question = Question.objects.get(poll__slug="anes-1996", code="self-placement-left-right")
    first = validation_run_holdout(question=question, holdout_fraction=0.2, seed=4)
    second = validation_run_holdout(question=question, holdout_fraction=0.2, seed=4)
    assert first.metrics == second.metrics
    assert first.metrics["methods"] == list(METHODS)


def test_group_predictions_are_distributions(cces_report):
    for group in cces_report.metrics["by_dimension"]["sex"]["groups"]:
        for method in group["methods"].values():
            assert np.sum(method["predicted"]) == pytest.approx(1.0)
            assert np.sum(method["simulated"]) == pytest.approx(1.0)
        assert np.sum(group["observed"]) == pytest.approx(1.0)


def test_a_poll_that_recorded_no_demographics_scores_no_poll_model_and_says_why():
    report = holdout_report(
        question=bare_poll(), holdout_fraction=0.3, seed=0, min_cell=30, min_group=30
    )
    m = report.metrics
    assert "poll_model" not in m["methods"] and "poll_model" not in m["overall"]["methods"]
    assert "recorded none of sex" in m["unavailable"]["poll_model"]
    assert m["overall"]["methods"]["model"]["mae_points"] >= 0


@pytest.mark.parametrize("fraction", [0, 1, 1.5])
def test_a_bad_holdout_fraction_is_refused(cces_question, fraction):
    with pytest.raises(DomainError, match="strictly between 0 and 1"):
        validation_run_holdout(question=cces_question, holdout_fraction=fraction)
    assert not ValidationRun.objects.exists()


def test_the_api_runs_and_lists_validations_with_every_metric(api):
    question = Question.objects.get(poll__slug="anes-1996", code="self-placement-left-right")
    response = api.post(
        "/api/v1/validation/runs/", {"question": question.id, "seed": 3}, format="json"
    )
    assert response.status_code == 201, response.json()
    metrics = response.json()["metrics"]
    assert metrics["methods"] == list(METHODS)
    age = metrics["by_dimension"]["age"]
    assert {"small", "n", "n_effective"} <= set(age["groups"][0])
    assert set(age["summary"]) == {"all_groups", "large_groups"}
    assert (
        age["summary"]["all_groups"]["methods"]["uniform"]["rank_correlation_first_option"] is None
    )
    assert "age" in metrics["coverage"]["poll_model"]["by_dimension"]
    listed = api.get("/api/v1/validation/runs/").json()["results"]
    assert listed[0]["id"] == response.json()["id"]
    assert listed[0]["metrics"]["coverage"] == metrics["coverage"]
    unknown = api.post("/api/v1/validation/runs/", {"question": 999999}, format="json")
    assert unknown.status_code == 400 and "999999" in unknown.json()["error"]["message"]


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


def test_kish_effective_n_is_n_for_equal_weights_and_less_for_unequal():
    assert effective_n(np.ones(50)) == pytest.approx(50)
    assert effective_n(np.array([1.0, 1.0, 1.0, 9.0])) == pytest.approx(144 / 84)
