"""Product reception over price points: purchase intent at each price (each price a condition of
the study, so a persona sees one price — a monadic design, not a Gabor–Granger sequence), the
demand curve, revenue per price and the revenue-maximising price with a bootstrap interval,
overall and per area.

Pure functions of a per-persona frame (columns `condition`, `intent` 0/1, `area`), so a test can
recompute each figure with scipy / statsmodels; `studies.analyzers.market.MarketAnalyzer` adds
them (`market`) to the questionnaire results of a study made by the market endpoint
(`studies.models.MarketAnalysis`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from studies.analyzers import stats

#: The purchase-intent scale the item asks; the top two boxes count as intending to buy.
INTENT_OPTIONS: Final = (
    ("definitely_buy", "Definitely would buy"),
    ("probably_buy", "Probably would buy"),
    ("not_sure", "Might or might not buy"),
    ("probably_not", "Probably would not buy"),
    ("definitely_not", "Definitely would not buy"),
)
BUYING: Final = frozenset({"definitely_buy", "probably_buy"})

METHOD: Final = (
    "Each price is a condition: a persona sees the product at one price only (monadic design). "
    "Purchase intent at a price is the top-two-box share (definitely or probably would buy) of "
    "the personas who saw it, with a 95% Wilson interval (statsmodels proportion_confint); the "
    "demand curve is those shares in price order. Revenue per price = price × intent × target "
    "market size (people, from the areas' census joint tables); the optimal price maximises it, "
    "with a seeded 95% percentile bootstrap interval (scipy.stats.bootstrap, resampling personas "
    f"within each price, {stats.N_RESAMPLES} resamples) and how often each price is optimal "
    "across resamples. Stated intent overstates real purchases; no calibration to observed sales "
    "is applied. Personas are simulated, not sampled people."
)


def intent_by_price(frame: pd.DataFrame, prices: Mapping[str, float]) -> list[dict]:
    """Per price (ascending): personas who saw it, the top-two-box intent and its Wilson
    interval."""
    rows = []
    for code, price in sorted(prices.items(), key=lambda kv: kv[1]):
        arm = frame[frame["condition"] == code]
        n, buyers = len(arm), int(arm["intent"].sum())
        low, high = stats.wilson(buyers / n, n) if n else (None, None)
        rows.append(
            {
                "condition": code,
                "price": price,
                "n": n,
                "buyers": buyers,
                "intent": buyers / n if n else None,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows


def revenue(rows: list[dict], market_size: float | None) -> list[dict]:
    """Revenue per price: price × intent per person in the market, and × the market's size."""
    return [
        {
            "price": r["price"],
            "revenue_per_person": None if r["intent"] is None else r["price"] * r["intent"],
            "projected_revenue": (
                None
                if r["intent"] is None or market_size is None
                else r["price"] * r["intent"] * market_size
            ),
        }
        for r in rows
    ]


def optimal_price(rows: list[dict], frame: pd.DataFrame, *, seed: int) -> dict:
    """The price maximising price × intent (the lowest on a tie), with a percentile bootstrap
    interval and the share of resamples in which each price is optimal."""
    usable = [r for r in rows if r["n"] > 0]
    if not usable:
        return {"price": None, "ci_low": None, "ci_high": None, "optimal_frequency": {}}
    prices = np.array([r["price"] for r in usable])
    best = float(prices[int(np.argmax([r["price"] * r["intent"] for r in usable]))])
    samples = tuple(
        frame.loc[frame["condition"] == r["condition"], "intent"].to_numpy(dtype=float)
        for r in usable
    )

    def statistic(*arms: np.ndarray, axis: int = -1) -> np.ndarray:
        revenue = np.stack([p * np.mean(a, axis=axis) for p, a in zip(prices, arms, strict=True)])
        return prices[np.argmax(revenue, axis=0)]

    if len(usable) < 2 or any(s.size < 2 for s in samples):
        return {"price": best, "ci_low": None, "ci_high": None, "optimal_frequency": {}}
    result = stats.groups_bootstrap(samples, statistic, seed=seed)
    draws = np.asarray(result.bootstrap_distribution)
    low, high = result.confidence_interval.low, result.confidence_interval.high
    if np.all(draws == draws[0]):  # every resample picks one price: scipy returns NaN then
        low = high = draws[0]
    return {
        "price": best,
        "ci_low": float(low),
        "ci_high": float(high),
        "optimal_frequency": {str(p): float(np.mean(draws == p)) for p in prices},
    }


def pricing_results(
    frame: pd.DataFrame,
    *,
    prices: Mapping[str, float],
    market_size: Mapping[str, dict],
    area_labels: Mapping[str, str],
    seed: int,
) -> dict:
    """Every pricing figure, overall and per area (see the module docstring)."""
    total_people = sum(a["people"] for a in market_size.values()) if market_size else None
    rows = intent_by_price(frame, prices)
    by_area = []
    for i, (area, group) in enumerate(sorted(frame.groupby("area"), key=lambda kv: str(kv[0]))):
        area_rows = intent_by_price(group, prices)
        people = market_size.get(str(area), {}).get("people")
        by_area.append(
            {
                "area": area,
                "label": area_labels.get(str(area), str(area)),
                "n": len(group),
                "intent": float(group["intent"].mean()),
                "intent_by_price": area_rows,
                "revenue": revenue(area_rows, people),
                "optimal_price": optimal_price(area_rows, group, seed=seed + i + 1),
                "target_market_size": people,
            }
        )
    return {
        "intent_by_price": rows,
        "revenue": revenue(rows, total_people),
        "optimal_price": optimal_price(rows, frame, seed=seed),
        "target_market_size": total_people,
        "by_area": by_area,
    }
