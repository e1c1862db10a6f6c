"""Market segmentation (studies.analyzers.segments) and the market's environment figures
(studies.analyzers.market) on small inputs worked out here by hand or with scipy directly."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from studies.analyzers import market, segments


def test_silhouette_of_two_tight_pairs_by_hand():
    x = np.array([[0.0], [1.0], [10.0], [11.0]])
    labels = np.array([0, 0, 1, 1])
    # 0: a = 1, b = (10 + 11)/2; 1: a = 1, b = (9 + 10)/2; 10 and 11 mirror them.
    expected = (9.5 / 10.5 + 8.5 / 9.5) / 2
    assert segments.silhouette(x, labels) == pytest.approx(expected)


def test_a_persona_alone_in_its_segment_scores_zero():
    x = np.array([[0.0], [1.0], [10.0]])
    # 0: a = 1, b = 10 -> 0.9; 1: a = 1, b = 9 -> 8/9; 10 alone -> 0.
    assert segments.silhouette(x, np.array([0, 0, 1])) == pytest.approx((0.9 + 8 / 9) / 3)


def _people(n_young: int = 12, n_old: int = 12) -> pd.DataFrame:
    """Two clearly different groups: young low-income women who would buy, older high-income
    men who would not."""
    rows = []
    for i in range(n_young):
        rows.append(
            {"persona_id": i, "age": 22 + i % 3, "age_bracket": "18_24", "sex": "female",
             "race_ethnicity": "hispanic", "education": "hs", "income": "lt_25k", "intent": 1,
             "intent_centred": 1.0 + 0.1 * (i % 2), "area": "x"}
        )  # fmt: skip
    for i in range(n_old):
        rows.append(
            {"persona_id": 100 + i, "age": 70 + i % 3, "age_bracket": "65_plus", "sex": "male",
             "race_ethnicity": "white", "education": "graduate", "income": "150k_plus",
             "intent": int(i < 3), "intent_centred": -1.0 - 0.1 * (i % 2), "area": "y"}
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_two_clear_groups_are_found_with_k_chosen_by_silhouette():
    frame = _people()
    result = segments.segmentation(frame, answer_columns=["intent_centred"], seed=11)
    assert [r["k"] for r in result["fit"]] == [2, 3, 4]  # 24 personas: at most 24 / 5 segments
    assert result["k"] == 2 == max(result["fit"], key=lambda r: r["silhouette"])["k"]
    assert result["criterion"] == "highest mean silhouette"
    assert result["structure"] in ("reasonable", "strong")  # two groups far apart
    first, second = result["segments"]
    assert (first["size"], second["size"]) == (12, 12)
    young = next(
        s for s in result["segments"] if s["profile"]["dominant"]["sex"]["category"] == "female"
    )
    old = next(s for s in result["segments"] if s is not young)
    assert young["profile"]["mean_age"] == pytest.approx(np.mean([22 + i % 3 for i in range(12)]))
    assert young["profile"]["dominant"]["income"] == {
        "category": "lt_25k", "label": "Under $25,000", "share": 1.0, "share_overall": 0.5,
    }  # fmt: skip
    assert young["purchase_intent"]["share"] == 1.0
    assert old["purchase_intent"]["share"] == pytest.approx(3 / 12)
    low, high = proportion_confint(3, 12, alpha=0.05, method="wilson")
    assert (old["purchase_intent"]["ci_low"], old["purchase_intent"]["ci_high"]) == pytest.approx(
        (low, high)
    )
    assert old["profile"]["distinctive"][0]["over_representation"] == pytest.approx(0.5)
    # The chosen fit's silhouette is the one recomputed from its labels.
    x, _ = segments.design_matrix(frame, ["intent_centred"])
    assert result["silhouette"] == pytest.approx(segments.silhouette(x, np.array(result["labels"])))
    assert result["intent_difference"]["p"] < 0.05


def test_the_same_seed_gives_the_same_segments():
    rng = np.random.default_rng(5)
    frame = _people(15, 15).assign(intent_centred=rng.normal(size=30), age=rng.integers(18, 90, 30))
    one = segments.segmentation(frame, answer_columns=["intent_centred"], seed=3)
    again = segments.segmentation(frame, answer_columns=["intent_centred"], seed=3)
    assert one["labels"] == again["labels"] and one["fit"] == again["fit"]


def test_a_fixed_k_is_fitted_alone_and_too_few_personas_are_not_segmented():
    fixed = segments.segmentation(_people(), answer_columns=["intent_centred"], seed=1, k=3)
    assert fixed["k"] == 3 and fixed["k_fixed"] and [r["k"] for r in fixed["fit"]] == [3]
    assert sum(s["size"] for s in fixed["segments"]) == 24
    few = segments.segmentation(_people(4, 4), answer_columns=["intent_centred"], seed=1, k=2)
    assert few["k"] is None and "10 are needed" in few["not_computed"]


def test_design_matrix_standardises_and_drops_constant_columns():
    x, columns = segments.design_matrix(_people(), ["intent_centred"])
    assert "race_ethnicity=asian" not in columns  # nobody: no variation
    assert "income" in columns and "sex=female" in columns
    assert x.mean(axis=0) == pytest.approx(np.zeros(len(columns)))
    assert x.std(axis=0) == pytest.approx(np.ones(len(columns)))


# --- environment -------------------------------------------------------------------------------


def test_intent_associations_are_point_biserial_correlations():
    frame = pd.DataFrame(
        {"intent": [1, 1, 0, 0, 1, 0], "conformity": [0.9, 0.8, 0.2, 0.3, 0.7, 0.4],
         "economic": [0.5] * 6}
    )  # fmt: skip
    rows = market.intent_associations(frame, ("conformity", "economic"))
    direct = sps.pointbiserialr(frame["intent"], frame["conformity"])
    assert rows[0]["r"] == pytest.approx(direct.statistic)
    assert rows[0]["p"] == pytest.approx(direct.pvalue)
    assert rows[1]["r"] is None and "no variation" in rows[1]["note"]
    assert "not a causal effect" in rows[0]["interpretation"]


def test_geographic_variation_is_the_range_of_the_areas_intent():
    frame = pd.DataFrame({"area": ["x"] * 4 + ["y"] * 5, "intent": [1, 1, 1, 0, 1, 0, 0, 0, 0]})
    result = market.geographic_variation(frame, seed=2)
    assert result["estimate"] == pytest.approx(0.75 - 0.2)
    assert result["ci_low"] <= result["estimate"] <= result["ci_high"]


@pytest.mark.parametrize(
    ("r", "label"), [(0.05, "negligible"), (-0.2, "small"), (0.35, "medium"), (-0.9, "large")]
)
def test_strength_reads_a_correlation_by_cohens_conventions(r, label):
    assert market.strength(r) == label


def test_launch_markets_are_ordered_by_projected_revenue_at_each_areas_optimal_price():
    def area(code, price, per_person, people):
        return {
            "area": code, "label": code.title(), "optimal_price": {"price": price},
            "revenue": [{"price": price, "revenue_per_person": per_person,
                         "projected_revenue": None if people is None else per_person * people}],
        }  # fmt: skip

    # Phoenix earns more per person, Dallas more in all (a bigger target market).
    rows = market.launch_markets(
        [area("phoenix", 149.99, 60.0, 1000), area("dallas", 99.99, 40.0, 5000)]
    )
    assert [r["area"] for r in rows] == ["dallas", "phoenix"]
    assert rows[0]["projected_revenue"] == pytest.approx(200_000)
    # Without a market size for one area, areas are ordered by revenue per person.
    rows = market.launch_markets(
        [area("phoenix", 149.99, 60.0, None), area("dallas", 99.99, 40.0, 5000)]
    )
    assert [r["area"] for r in rows] == ["phoenix", "dallas"]


# --- the assembled market figures ---------------------------------------------------------------


def test_market_results_assemble_features_segments_and_environment_from_one_frame():
    """Features named like frame columns ("Age", "Income") stay features; every block is there
    and agrees with the frame."""
    people = _people(10, 10)
    frame = people.assign(
        condition=["price_1", "price_2"] * 10,
        conformity=np.linspace(0.1, 0.9, 20),
        economic=0.5,
    )
    spec = SimpleNamespace(
        item_code="purchase_intent",
        prices={"price_1": 10.0, "price_2": 20.0},
        market_size={"x": {"people": 1000}, "y": {"people": 3000}},
        features=[{"code": "age", "label": "Age"}, {"code": "income", "label": "Income"}],
        feature_format="rating",
        segment_count=None,
    )
    # The young rate "age" 5 and "income" 1; the old the reverse.
    points = np.array([[5.0, 1.0]] * 10 + [[1.0, 5.0]] * 10)
    result = market.market_results(
        frame, spec=spec, points=points, area_labels={"x": "Xville", "y": "Yton"},
        pressures=("conformity", "economic"), seed=4,
    )  # fmt: skip
    preferences = result["feature_preferences"]
    assert {r["code"]: r["share"] for r in preferences["ranking"]} == pytest.approx(
        {"age": 0.5, "income": 0.5}
    )
    x_group = next(g for g in preferences["by_segment"]["area"]["groups"] if g["category"] == "x")
    assert x_group["top"] == "age" and x_group["ranking"][0]["share"] == pytest.approx(5 / 6)
    segmentation = result["segmentation"]
    assert segmentation["k"] == 2
    assert "importance_share:age" in segmentation["columns"] and "age" in segmentation["columns"]
    assert {s["top_feature"] for s in segmentation["segments"]} == {"age", "income"}
    assert {g["category"] for g in preferences["by_segment"]["segment"]["groups"]} == {"1", "2"}
    environment = result["environment"]
    # Intent: area x 10/10, area y 3/10.
    assert environment["geographic_variation"]["estimate"] == pytest.approx(0.7)
    assert [r["pressure"] for r in environment["associations"]] == ["conformity", "economic"]
    direct = sps.pointbiserialr(frame["intent"], frame["conformity"])
    assert environment["associations"][0]["r"] == pytest.approx(direct.statistic)
    # Launch order by projected revenue at each area's optimum. x: everyone buys, so $20 × 1.0 ×
    # 1,000 = 20,000. y (rows alternate $10, $20; its three buyers are rows 10, 11, 12): 2/5 at
    # $10 and 1/5 at $20 are both $4 per person, the tie goes to the lower price, × 3,000 = 12,000.
    ranking = environment["launch_market_ranking"]
    assert [(r["area"], r["optimal_price"]) for r in ranking] == [("x", 20.0), ("y", 10.0)]
    assert [r["projected_revenue"] for r in ranking] == pytest.approx([20_000, 12_000])
    assert environment["optimal_launch_markets"] == ["x", "y"]


@pytest.mark.parametrize(
    ("silhouette", "reading"),
    [(0.19, "no substantial structure"), (0.3, "weak"), (0.6, "reasonable"), (0.8, "strong")],
)
def test_structure_reads_the_silhouette_as_kaufman_and_rousseeuw(silhouette, reading):
    assert segments.structure(silhouette) == reading


def test_personas_too_alike_to_segment_are_reported_not_segmented():
    same = _people(10, 0).assign(intent_centred=0.0, age=30)
    result = segments.segmentation(same, answer_columns=["intent_centred"], seed=1)
    assert result["k"] is None and "do not differ enough" in result["not_computed"]
