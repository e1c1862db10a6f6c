"""Feature preferences (studies.analyzers.features) on small inputs whose figures are worked out
here by hand, and intervals and tests recomputed directly with scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from studies.analyzers import features
from studies.analyzers.stats import N_RESAMPLES

CODES = ["a", "b", "c"]
LABELS = {"a": "Voice control", "b": "Privacy mode", "c": "Energy reports"}
# Four personas' rankings, first choice first.
RANKINGS = [["a", "b", "c"], ["a", "c", "b"], ["b", "a", "c"], ["c", "b", "a"]]


def test_ranking_points_are_borda_points_and_an_unranked_feature_gets_none():
    points = features.ranking_points([["a", "b", "c"], ["c", "a"]], CODES)
    # k = 3: first 2, second 1, third 0; "b" left out of the second ranking gets 0.
    assert points.tolist() == [[2, 1, 0], [1, 0, 2]]


def test_importance_shares_from_rankings_by_hand():
    shares, kept = features.importance_shares(features.ranking_points(RANKINGS, CODES))
    assert kept.all()
    # Points: a 2+2+1+0 = 5, b 1+0+2+1 = 4, c 0+1+0+2 = 3, each persona's total 3.
    assert shares.mean(axis=0) == pytest.approx([5 / 12, 4 / 12, 3 / 12])
    rows = features.share_rows(shares, CODES, LABELS, seed=1)
    assert [(r["rank"], r["code"], r["label"]) for r in rows] == [
        (1, "a", "Voice control"),
        (2, "b", "Privacy mode"),
        (3, "c", "Energy reports"),
    ]


def test_importance_shares_from_ratings_by_hand_leave_out_a_persona_who_skipped_one():
    points = np.array([[5, 3, 2], [1, 1, 2], [4, np.nan, 4]])
    shares, kept = features.importance_shares(points)
    assert kept.tolist() == [True, True, False]
    # 5/10, 3/10, 2/10 and 1/4, 1/4, 2/4: means 0.375, 0.275, 0.35.
    assert shares.mean(axis=0) == pytest.approx([0.375, 0.275, 0.35])
    rows = features.share_rows(shares, CODES, LABELS, seed=1)
    assert [r["code"] for r in rows] == ["a", "c", "b"]


def test_share_intervals_are_scipys_percentile_bootstrap_over_personas():
    rng = np.random.default_rng(0)
    rankings = [list(rng.permutation(CODES)) for _ in range(40)]
    shares, _ = features.importance_shares(features.ranking_points(rankings, CODES))
    low, high = features.share_intervals(shares, seed=7)
    direct = sps.bootstrap(
        (shares,), lambda s, axis: s.mean(axis=axis), axis=0, n_resamples=N_RESAMPLES,
        vectorized=True, method="percentile", rng=np.random.default_rng(7),
    )  # fmt: skip
    assert low == pytest.approx(direct.confidence_interval.low)
    assert high == pytest.approx(direct.confidence_interval.high)
    means = shares.mean(axis=0)
    assert np.all(low <= means) and np.all(means <= high)
    assert np.all(high - low > 0.05)  # 40 personas: the intervals are not points


def test_features_differ_by_friedman_and_adjacent_pairs_by_wilcoxon():
    rankings = [["a", "b", "c"]] * 8 + [["b", "a", "c"]] * 4
    shares, _ = features.importance_shares(features.ranking_points(rankings, CODES))
    test = features.difference_test(shares)
    direct = sps.friedmanchisquare(*shares.T)
    assert test["test"] == features.FRIEDMAN
    assert (test["statistic"], test["p"]) == pytest.approx((direct.statistic, direct.pvalue))
    rows = features.share_rows(shares, CODES, LABELS, seed=1)
    adjacent = features.adjacent_tests(shares, rows, CODES)
    assert [(t["feature"], t["next"]) for t in adjacent] == [("a", "b"), ("b", "c")]
    # a − b: 8 personas +1/3, 4 personas −1/3.
    assert adjacent[0]["difference"] == pytest.approx((8 - 4) / 3 / 12)
    assert adjacent[0]["p"] == pytest.approx(sps.wilcoxon(shares[:, 0], shares[:, 1]).pvalue)
    # c is last for everyone: b beats it clearly.
    assert adjacent[1]["significant"] and not adjacent[0]["significant"]


def test_two_features_are_compared_by_wilcoxon_and_identical_answers_are_not_tested():
    shares, _ = features.importance_shares(np.array([[3, 1], [4, 1], [2, 2], [5, 1], [1, 2.0]]))
    assert features.difference_test(shares)["test"] == features.WILCOXON
    same, _ = features.importance_shares(np.array([[2.0, 2.0, 2.0]] * 5))
    assert features.difference_test(same)["p"] is None


def test_shares_by_segment_are_the_shares_within_each_category():
    frame = pd.DataFrame({"sex": ["female", "female", "male", "male"]})
    shares, _ = features.importance_shares(features.ranking_points(RANKINGS, CODES))
    result = features.by_segment(
        frame, shares, "sex", CODES, LABELS, {"female": "Female", "male": "Male"}, seed=3
    )
    female, male = result["groups"]
    assert (female["category"], female["n"], female["top"]) == ("female", 2, "a")
    # Women: [a,b,c], [a,c,b] -> a 4/6, b 1/6, c 1/6. Men: [b,a,c], [c,b,a] -> b 3/6.
    assert {r["code"]: r["share"] for r in female["ranking"]} == pytest.approx(
        {"a": 4 / 6, "b": 1 / 6, "c": 1 / 6}
    )
    assert {r["code"]: r["share"] for r in male["ranking"]}["b"] == pytest.approx(3 / 6)
    kruskal_a = sps.kruskal(shares[:2, 0], shares[2:, 0])
    assert result["tests"][0]["feature"] == "a"
    assert result["tests"][0]["p"] == pytest.approx(kruskal_a.pvalue)


def test_feature_results_assemble_every_figure_and_name_the_method():
    frame = pd.DataFrame({"area": ["x", "x", "y", "y"]})
    result = features.feature_results(
        frame,
        features.ranking_points(RANKINGS, CODES),
        codes=CODES,
        labels=LABELS,
        format=features.RANKING,
        segments={"area": {"x": "Xville", "y": "Yton"}},
        seed=2,
    )
    assert result["top"] == "a" and result["n"] == 4 and result["personas_left_out"] == 0
    assert [g["label"] for g in result["by_segment"]["area"]["groups"]] == ["Xville", "Yton"]
    assert "k − rank" in result["method"] and "bootstrap" in result["method"]
