"""The market analysis' multi_agent_effects: peer influence over the purchase-intent answers within
each price, each figure recomputed here from the network and the closed-form Friedkin–Johnsen
equilibrium."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from studies.analyzers.pricing import INTENT_OPTIONS
from studies.influence.compute import group_from_personas
from studies.influence.market import OPTIONS, market_influence
from studies.influence.simulate import InfluenceParams, group_wiring

CODES = [code for code, _ in INTENT_OPTIONS]
PRICES = {"price_1": 149.99, "price_0": 99.99}
SEED = 7


def _people(n: int = 40) -> tuple[pd.DataFrame, dict[int, dict]]:
    rng = np.random.default_rng(3)
    personas, rows = {}, []
    for k in range(n):
        pid = 1000 + k
        personas[pid] = {
            "id": pid,
            "index": k,
            "area_id": "dallas_tx_city",
            "age": 30,
            "age_bracket": ["18_24", "35_44", "55_64"][k % 3],
            "sex": "female" if k % 2 else "male",
            "race_ethnicity": ["white", "black", "hispanic"][k % 3],
            "education": ["hs", "bachelors"][k % 2],
            "income": "50_75k",
            "profile": {"party_identification": ["dem", "rep", "ind"][k % 3]},
        }
        # Cheaper price, more buyers; scores 5 (definitely) .. 1 (definitely not).
        condition = "price_0" if k % 2 else "price_1"
        p = [0.3, 0.3, 0.2, 0.1, 0.1] if condition == "price_0" else [0.1, 0.15, 0.25, 0.25, 0.25]
        option = int(rng.choice(5, p=p))
        rows.append({"persona_id": pid, "condition": condition, "intent_score": 5.0 - option})
    # Shuffled: the result must not depend on the frame's order.
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1), personas


def _expected(frame: pd.DataFrame, personas: dict, condition: str, k: int) -> dict:
    """One price's figures: the same network, then x* = (I − ΛW)⁻¹ (I − Λ) x(0) solved here."""
    arm = frame[frame["condition"] == condition]
    ids = sorted(arm["persona_id"], key=lambda p: personas[p]["index"])
    score = dict(zip(arm["persona_id"], arm["intent_score"], strict=True))
    x0 = np.zeros((len(ids), 5))
    for i, p in enumerate(ids):
        x0[i, CODES.index(CODES[int(5 - score[p])])] = 1.0
    group = group_from_personas([personas[p] for p in ids], initial=x0, options=OPTIONS)
    stream = int(np.random.SeedSequence([SEED, k]).generate_state(1)[0])
    wiring = group_wiring(group, replace(InfluenceParams(), seed=stream))
    lam = np.diag(wiring.susceptibility)
    w = wiring.weights.toarray()
    final = np.linalg.solve(np.eye(len(ids)) - lam @ w, (np.eye(len(ids)) - lam) @ x0)
    before, after = x0[:, :2].sum(axis=1), final[:, :2].sum(axis=1)
    adjacency = wiring.network.adjacency.toarray()
    heard = (before == 0) & (adjacency @ before > 0)
    return {"x0": x0, "final": final, "before": before, "after": after, "heard": heard,
            "w": w, "lam": wiring.susceptibility}  # fmt: skip


def _wilson(share: float, n: int) -> tuple[float, float]:
    return proportion_confint(share * n, n, alpha=0.05, method="wilson")


def test_intent_moves_by_friedkin_johnsen_within_each_price():
    frame, personas = _people()
    result = market_influence(frame, personas, prices=PRICES, seed=SEED)
    rows = result["by_price"]
    assert [r["price"] for r in rows] == [99.99, 149.99]  # price order
    for k, row in enumerate(rows):
        e = _expected(frame, personas, row["condition"], k)
        n = len(e["before"])
        assert row["n"] == n and row["converged"]
        assert row["intent_before"]["share"] == pytest.approx(e["before"].mean())
        assert row["intent_after"]["share"] == pytest.approx(e["after"].mean(), abs=1e-5)
        low, high = _wilson(e["after"].mean(), n)
        assert row["intent_after"]["ci_low"] == pytest.approx(low, abs=1e-5)
        assert row["intent_after"]["ci_high"] == pytest.approx(high, abs=1e-5)
        # Group buying influence: the mean paired change with its t interval.
        change = e["after"] - e["before"]
        interval = sps.ttest_1samp(change, 0.0).confidence_interval(0.95)
        gbi = row["group_buying_influence"]
        assert gbi["estimate"] == pytest.approx(change.mean(), abs=1e-5)
        assert (gbi["ci_low"], gbi["ci_high"]) == pytest.approx(
            (interval.low, interval.high), abs=1e-5
        )
        # Peer recommendation impact: non-buyers with a buying tie.
        impact = row["peer_recommendation_impact"]
        assert impact["n"] == int(e["heard"].sum()) > 0
        assert impact["share"] == pytest.approx(e["after"][e["heard"]].mean(), abs=1e-5)
        # Average influence: mean total variation moved; conformity pressure as defined.
        tv = 0.5 * np.abs(e["final"] - e["x0"]).sum(axis=1)
        assert row["average_influence"] == pytest.approx(tv.mean(), abs=1e-5)
        neighbour_mean = e["w"] @ e["x0"]
        has_ties = e["w"].sum(axis=1) > 0
        disagreement = np.where(has_ties, 0.5 * np.abs(e["x0"] - neighbour_mean).sum(axis=1), 0)
        assert row["conformity_pressure"] == pytest.approx(e["lam"].mean() * disagreement.mean())


def test_the_overall_figures_pool_every_persona_and_price_revenue_after_influence():
    frame, personas = _people()
    result = market_influence(frame, personas, prices=PRICES, seed=SEED)
    parts = [
        _expected(frame, personas, r["condition"], k) for k, r in enumerate(result["by_price"])
    ]
    before = np.concatenate([p["before"] for p in parts])
    after = np.concatenate([p["after"] for p in parts])
    overall = result["overall"]
    assert overall["n"] == len(frame)
    assert overall["intent_before"]["share"] == pytest.approx(before.mean())
    assert overall["intent_after"]["share"] == pytest.approx(after.mean(), abs=1e-5)
    assert overall["group_buying_influence"]["estimate"] == pytest.approx(
        (after - before).mean(), abs=1e-5
    )
    revenue = {
        r["price"]: r["price"] * p["after"].mean()
        for r, p in zip(result["by_price"], parts, strict=True)
    }
    assert overall["optimal_price_after"] == max(revenue, key=revenue.get)
    assert "susceptibility" in result["assumptions"] and "Friedkin" in result["method"]


def test_the_same_seed_gives_the_same_effects_and_another_seed_another_network():
    frame, personas = _people()
    first = market_influence(frame, personas, prices=PRICES, seed=SEED)
    assert market_influence(frame.sample(frac=1.0, random_state=9), personas, prices=PRICES,
                            seed=SEED) == first  # fmt: skip
    other = market_influence(frame, personas, prices=PRICES, seed=SEED + 1)
    assert [r["ties"] for r in other["by_price"]] != [r["ties"] for r in first["by_price"]] or [
        r["intent_after"] for r in other["by_price"]
    ] != [r["intent_after"] for r in first["by_price"]]


def test_a_price_seen_by_fewer_than_two_personas_says_why_it_has_no_figures():
    frame, personas = _people()
    lone = frame[frame["condition"] == "price_1"].head(1)
    frame = pd.concat([frame[frame["condition"] == "price_0"], lone])
    result = market_influence(frame, personas, prices=PRICES, seed=SEED)
    row = next(r for r in result["by_price"] if r["condition"] == "price_1")
    assert row["n"] == 1 and "fewer than two personas" in row["not_computed"]
    assert "intent_after" not in row
    assert result["overall"]["n"] == len(frame) - 1
