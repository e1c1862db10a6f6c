"""Pricing figures (studies.analyzers.pricing) and the target market size, against values computed
here by hand or directly with scipy / statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from config.errors import DomainError
from environment.models import Area
from studies.analyzers import pricing
from studies.analyzers.stats import N_RESAMPLES
from studies.services.market import (
    MarketRequest,
    market_analysis_start,
    target_constraints,
    target_market_size,
)

PRICES = {"price_1": 99.99, "price_2": 149.99, "price_3": 199.99}
BUYERS = {"price_1": 50, "price_2": 40, "price_3": 20}  # of 100 each


def _frame() -> pd.DataFrame:
    rows = []
    for code, buyers in BUYERS.items():
        for i in range(100):
            rows.append(
                {"condition": code, "intent": int(i < buyers), "area": "a" if i % 2 else "b"}
            )
    return pd.DataFrame(rows)


def test_intent_by_price_is_the_top_two_box_share_with_wilson_intervals():
    rows = pricing.intent_by_price(_frame(), PRICES)
    assert [r["price"] for r in rows] == [99.99, 149.99, 199.99]
    assert [r["intent"] for r in rows] == [0.5, 0.4, 0.2]
    low, high = proportion_confint(40, 100, alpha=0.05, method="wilson")
    assert (rows[1]["ci_low"], rows[1]["ci_high"]) == pytest.approx((low, high))


def test_revenue_and_optimal_price_with_its_bootstrap_interval():
    frame = _frame()
    rows = pricing.intent_by_price(frame, PRICES)
    revenue = pricing.revenue(rows, 10_000)
    # By hand: 99.99 × 0.5 = 49.995, 149.99 × 0.4 = 59.996, 199.99 × 0.2 = 39.998 per person.
    assert [r["revenue_per_person"] for r in revenue] == pytest.approx([49.995, 59.996, 39.998])
    assert revenue[1]["projected_revenue"] == pytest.approx(59.996 * 10_000)
    optimal = pricing.optimal_price(rows, frame, seed=4)
    assert optimal["price"] == 149.99
    arms = [frame.loc[frame.condition == c, "intent"].to_numpy(float) for c in PRICES]
    prices = np.array(list(PRICES.values()))

    def best(*a, axis=-1):
        return prices[
            np.argmax(
                np.stack([p * x.mean(axis=axis) for p, x in zip(prices, a, strict=True)]), axis=0
            )
        ]

    direct = sps.bootstrap(
        tuple(arms), best, n_resamples=N_RESAMPLES, paired=False, vectorized=True,
        method="percentile", rng=np.random.default_rng(4),
    )  # fmt: skip
    assert (optimal["ci_low"], optimal["ci_high"]) == (
        direct.confidence_interval.low,
        direct.confidence_interval.high,
    )
    frequency = optimal["optimal_frequency"]
    assert sum(frequency.values()) == pytest.approx(1.0)
    assert frequency["149.99"] == pytest.approx(np.mean(direct.bootstrap_distribution == 149.99))


def test_seed_income_codes_become_platform_codes():
    spec = target_constraints({"age_min": 25, "age_max": 55, "income": ["50k_75k", "over_100k"]})
    assert spec["income"] == ["50_75k", "100_150k", "150k_plus"]
    with pytest.raises(DomainError, match="Unknown income code"):
        target_constraints({"income": ["rich"]})


@pytest.mark.django_db
def test_target_market_size_counts_the_areas_adults_in_the_target():
    whole = target_market_size(area_ids=["dallas_tx_city"], target={})["dallas_tx_city"]
    adults = Area.objects.get(id="dallas_tx_city").adult_population
    assert whole["share"] == pytest.approx(1.0)
    assert whole["people"] == adults
    # Incomes split the adults: the parts add up to the whole.
    parts = [
        target_market_size(area_ids=["dallas_tx_city"], target={"income": [c]})["dallas_tx_city"]
        for c in ("lt_25k", "25_50k", "50_75k", "75_100k", "100_150k", "150k_plus")
    ]
    assert sum(p["share"] for p in parts) == pytest.approx(1.0)
    # An age window keeps part of the adults, fewer than without it.
    window = target_market_size(area_ids=["dallas_tx_city"], target={"age_min": 25, "age_max": 55})[
        "dallas_tx_city"
    ]
    assert 0 < window["share"] < 1 and window["people"] == round(adults * window["share"])


@pytest.mark.django_db
def test_the_offline_backend_is_refused_for_purchase_intent():
    request = MarketRequest(product_name="Smart Home Assistant", price_points=[99.99, 149.99],
                            target_areas=["dallas_tx_city"], backend="poll_model")  # fmt: skip
    with pytest.raises(DomainError, match='"backend": "llm"'):
        market_analysis_start(request=request, raw={})
