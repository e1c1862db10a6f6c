"""The policy figures (studies.analyzers.policy and its policy_* modules) against values computed
here, by hand or directly with scipy / statsmodels on the same counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from studies.analyzers import policy_environment, policy_messages, policy_stance, policy_support
from studies.analyzers.stats import N_RESAMPLES


def _frame(rows: list[tuple[str, str, str, int]], **extra) -> pd.DataFrame:
    """(stance, area, sex, count) rows → one row per persona."""
    records = []
    for stance, area, sex, count in rows:
        records += [
            {
                "stance": stance,
                "area": area,
                "sex": sex,
                "age_bracket": "35_44",
                "race_ethnicity": "white",
                "education": "bachelors",
                "income": "50k_75k",
                "condition": "",
            }
        ] * count
    frame = pd.DataFrame(records)
    for column, values in extra.items():
        frame[column] = values
    return frame


# 60 support, 30 oppose, 10 neutral in area a; 20 / 50 / 10 in area b.
ROWS = [
    ("support", "a", "female", 40),
    ("support", "a", "male", 20),
    ("oppose", "a", "female", 10),
    ("oppose", "a", "male", 20),
    ("neutral", "a", "female", 5),
    ("neutral", "a", "male", 5),
    ("support", "b", "female", 12),
    ("support", "b", "male", 8),
    ("oppose", "b", "female", 20),
    ("oppose", "b", "male", 30),
    ("neutral", "b", "female", 4),
    ("neutral", "b", "male", 6),
]


@pytest.mark.parametrize(
    ("label", "stance"),
    [
        ("Support", "support"),
        ("Strongly favor", "support"),
        ("Agree", "support"),
        ("Disagree", "oppose"),
        ("Oppose", "oppose"),
        ("Strongly oppose", "oppose"),
        ("Neither agree nor disagree", "neutral"),
        ("Don’t know", "neutral"),
        ("Bill Clinton", None),
    ],
)
def test_stances_are_read_from_option_labels_by_the_documented_rule(label, stance):
    assert policy_stance.infer_stance(label) == stance


def test_a_mapping_without_an_opposing_option_is_refused():
    problems = policy_stance.stance_problems(
        {"yes": "support", "maybe": "neutral"}, ["yes", "maybe"]
    )
    assert problems == ["no option means oppose: the item cannot measure support"]
    assert "option 'x' has no stance" in policy_stance.stance_problems({}, ["x"])[0]


def test_shares_have_wilson_intervals_and_net_support_a_bootstrap_interval():
    frame = _frame(ROWS)
    summary = policy_support.stance_summary(frame, seed=7)
    assert summary["n"] == 180
    assert summary["support"]["share"] == pytest.approx(80 / 180)
    assert summary["oppose"]["share"] == pytest.approx(80 / 180)
    assert summary["neutral"]["share"] == pytest.approx(20 / 180)
    low, high = proportion_confint(80, 180, alpha=0.05, method="wilson")
    assert (summary["support"]["ci_low"], summary["support"]["ci_high"]) == pytest.approx(
        (low, high)
    )
    two_low, two_high = proportion_confint(80, 160, alpha=0.05, method="wilson")
    assert summary["two_way_support"]["share"] == pytest.approx(0.5)
    assert summary["two_way_support"]["ci_low"] == pytest.approx(two_low)
    assert summary["two_way_support"]["ci_high"] == pytest.approx(two_high)
    # Net support by hand: (80 − 80) / 180 = 0; the interval is scipy's bootstrap of the mean
    # of +1 / −1 / 0 with the same seed.
    assert summary["net_support"]["estimate"] == pytest.approx(0.0)
    values = frame["stance"].map({"support": 1.0, "oppose": -1.0, "neutral": 0.0}).to_numpy()
    direct = sps.bootstrap(
        (values,),
        np.mean,
        n_resamples=N_RESAMPLES,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(7),
    ).confidence_interval
    assert summary["net_support"]["ci_low"] == pytest.approx(direct.low)
    assert summary["net_support"]["ci_high"] == pytest.approx(direct.high)


def test_area_difference_is_a_chi_square_test_of_area_by_stance():
    frame = _frame(ROWS)
    tests = policy_support.difference_tests(frame, ("area", "sex"), seed=1)["tests"]
    area = next(t for t in tests if t["dimension"] == "area")
    expected = sps.chi2_contingency(np.array([[60, 30, 10], [20, 50, 10]]), correction=False)
    assert area["test"].startswith("Pearson chi-square")
    assert area["statistic"] == pytest.approx(expected.statistic)
    assert area["df"] == expected.dof == 2
    assert area["p"] == pytest.approx(expected.pvalue)
    sex = next(t for t in tests if t["dimension"] == "sex")
    sex_expected = sps.chi2_contingency(np.array([[52, 30, 9], [28, 50, 11]]), correction=False)
    assert sex["statistic"] == pytest.approx(sex_expected.statistic)
    # Holm over two p-values: the smaller doubled, the larger at least the smaller adjusted.
    smaller, larger = sorted([area["p"], sex["p"]])
    adjusted = sorted([area["p_adjusted"], sex["p_adjusted"]])
    assert adjusted[0] == pytest.approx(min(1.0, 2 * smaller))
    assert adjusted[1] == pytest.approx(max(min(1.0, 2 * smaller), larger))


def test_swing_groups_are_those_whose_two_way_interval_contains_half():
    frame = _frame(ROWS)
    breakdowns = {
        "sex": policy_support.breakdown(frame, "sex", {"female": "F", "male": "M"}, seed=3)
    }
    swing = policy_support.swing_near_threshold(breakdowns)
    # Women: 52 support / 30 oppose → 0.634, Wilson (0.527, 0.730) excludes 0.5.
    # Men: 28 / 50 → 0.359, Wilson (0.261, 0.471) excludes 0.5: neither is a swing group ...
    assert swing == []
    # ... until the men split evenly.
    even = _frame(
        [r if r[:3] != ("oppose", "b", "male") else ("oppose", "b", "male", 8) for r in ROWS]
    )
    swing = policy_support.swing_near_threshold(
        {"sex": policy_support.breakdown(even, "sex", {"female": "F", "male": "M"}, seed=3)}
    )
    assert [g["category"] for g in swing] == ["male"]
    low, high = proportion_confint(28, 56, alpha=0.05, method="wilson")
    assert swing[0]["two_way_support"]["ci_low"] == pytest.approx(low)
    assert swing[0]["two_way_support"]["ci_high"] == pytest.approx(high)


def test_movers_rank_groups_by_the_range_of_their_area_support():
    frame = _frame(ROWS)
    movers = policy_support.swing_movers(frame, ("sex",), "area", seed=1)
    by_sex = {m["category"]: m for m in movers}
    # Women: 40/55 in a, 12/36 in b; men: 20/45 in a, 8/44 in b.
    assert by_sex["female"]["range"] == pytest.approx(40 / 55 - 12 / 36)
    assert by_sex["male"]["range"] == pytest.approx(20 / 45 - 8 / 44)
    assert [m["category"] for m in movers] == ["female", "male"]
    # An expected count below 5 (the women's neutral cells): Fisher's exact test, Monte Carlo.
    table = np.array([[40, 10, 5], [12, 20, 4]])
    assert (sps.contingency.expected_freq(table) < 5).any()
    women = sps.fisher_exact(
        table,
        method=sps.MonteCarloMethod(n_resamples=N_RESAMPLES, rng=np.random.default_rng(1)),
    )
    assert by_sex["female"]["test"].startswith("Fisher exact, Monte Carlo")
    assert by_sex["female"]["p"] == pytest.approx(women.pvalue)


def test_pressure_association_is_the_point_biserial_correlation_across_personas():
    rng = np.random.default_rng(0)
    frame = _frame(ROWS)
    pressure = rng.uniform(size=len(frame))
    frame["conformity"] = pressure
    frame.loc[frame.index[:5], "conformity"] = np.nan  # underivable for five personas
    rows = policy_environment.pressure_associations(frame, ("conformity",))
    known = frame[frame["conformity"].notna()]
    expected = sps.pointbiserialr((known["stance"] == "support").astype(float), known["conformity"])
    assert rows[0]["n"] == len(frame) - 5
    assert rows[0]["r"] == pytest.approx(expected.statistic)
    assert rows[0]["p"] == pytest.approx(expected.pvalue)
    assert "not a causal effect" in rows[0]["interpretation"]
    means = {
        r["area"]: r["pressures"]["conformity"]
        for r in policy_environment.area_pressures(frame, ("conformity",))
    }
    assert means["a"]["mean"] == pytest.approx(
        np.nanmean(frame.loc[frame.area == "a", "conformity"])
    )
    assert means["a"]["n"] == 95


def test_geographic_variation_is_the_range_of_area_support_with_a_bootstrap_interval():
    frame = _frame(ROWS)
    result = policy_environment.geographic_variation(frame, seed=11)
    assert result["estimate"] == pytest.approx(60 / 100 - 20 / 80)
    a = (frame.loc[frame.area == "a", "stance"] == "support").to_numpy(float)
    b = (frame.loc[frame.area == "b", "stance"] == "support").to_numpy(float)

    def spread(x, y, axis=-1):
        return np.abs(x.mean(axis=axis) - y.mean(axis=axis))

    direct = sps.bootstrap(
        (a, b),
        spread,
        n_resamples=N_RESAMPLES,
        paired=False,
        vectorized=True,
        method="percentile",
        rng=np.random.default_rng(11),
    ).confidence_interval
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((direct.low, direct.high))


def _message_frame() -> pd.DataFrame:
    # control: 30 support of 100; message a: 45 of 100; message b: 33 of 100.
    rows = []
    for condition, supporters in (("control", 30), ("a", 45), ("b", 33)):
        for i in range(100):
            rows.append(
                {
                    "stance": "support" if i < supporters else ("oppose" if i % 2 else "neutral"),
                    "condition": condition,
                    "area": "x",
                    "sex": "female" if i % 2 == 0 else "male",
                    "age_bracket": "35_44",
                    "race_ethnicity": "white",
                    "education": "bachelors",
                    "income": "50k_75k",
                }
            )
    return pd.DataFrame(rows)


def test_message_lift_is_the_support_difference_with_newcombe_interval_and_z_test():
    result = policy_messages.message_lifts(_message_frame(), ["control", "a", "b"], ("sex",))
    lifts = {r["condition"]: r for r in result["overall"]["lifts"]}
    assert lifts["a"]["lift"] == pytest.approx(0.15)
    low, high = confint_proportions_2indep(45, 100, 30, 100, method="newcomb", compare="diff")
    assert (lifts["a"]["ci_low"], lifts["a"]["ci_high"]) == pytest.approx((low, high))
    z, p = proportions_ztest([45, 30], [100, 100])
    assert lifts["a"]["z"] == pytest.approx(z)
    assert lifts["a"]["p"] == pytest.approx(p)
    assert lifts["b"]["lift"] == pytest.approx(0.03)
    best = result["overall"]["best"]
    assert best["condition"] == "a"
    # a vs control: p ≈ 0.028, Holm over two messages doubles it above 0.05 → within noise.
    assert lifts["a"]["p_adjusted"] == pytest.approx(min(1, 2 * p))
    assert best["within_noise"] is True
    assert any("within noise" in w for w in best["warnings"])
    # By segment: women (even i) in message a: supporters are i < 45 and even → 23 of 50.
    women = next(g for g in result["by_segment"]["sex"] if g["category"] == "female")
    women_a = next(r for r in women["lifts"] if r["condition"] == "a")
    assert women_a["support"] == pytest.approx(23 / 50)
    assert women_a["control_support"] == pytest.approx(15 / 50)


def test_a_clear_winner_carries_no_noise_warning():
    frame = _message_frame()
    frame.loc[(frame.condition == "a") & (frame.index % 100 < 80), "stance"] = "support"
    result = policy_messages.message_lifts(frame, ["control", "a", "b"], ())
    best = result["overall"]["best"]
    assert best["condition"] == "a"
    assert best["lift"] == pytest.approx(0.5)
    assert best["within_noise"] is False
    assert best["runner_up"]["condition"] == "b"
    assert best["runner_up"]["difference"] == pytest.approx(0.8 - 0.33)
