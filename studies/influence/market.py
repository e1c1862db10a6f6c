"""Peer influence over a market analysis' purchase-intent answers: the market report's
`multi_agent_effects` (the seed's group buying influence and peer recommendation impact), from the
same machinery as `/api/v1/multi-agent/simulate` (`studies.influence.simulate`).

Each price is a condition of the study, so the personas who saw one price form one group: they
are tied by the same seeded homophily network (a stochastic block model over age bracket,
race/ethnicity, education and party, `network.py`) and their answers move by Friedkin–Johnsen
rounds (`dynamics.py`), x(t+1) = Λ W x(t) + (I − Λ) x(0), with λ = susceptibility scale ×
conformity tendency. A persona's x(0) is the indicator of the one option it chose on the
five-point intent scale (the LLM backend gives one answer, no probabilities); x(T) its
distribution after the rounds. Ties stay within a price: people who talk about the product saw it
at the same price.

Per price:

- **intent before / after** — the top-two-box share: before, the share of personas who chose
  "definitely" or "probably would buy" (the demand curve's intent); after, the mean over personas
  of x_i(T)'s probability of those two options. Each with a 95 % Wilson interval at n personas.
- **group buying influence** — after − before, with a 95 % t interval of the mean paired change
  x_i(T)[buy] − x_i(0)[buy] over the price's personas.
- **peer recommendation impact** — among the personas who did not intend to buy but have at
  least one tie who did (they heard a recommendation), the mean probability of buying after
  influence (it was 0 before), with its Wilson interval at their number.
- **average influence**, **conformity pressure**, **social influence strength** and
  **similarity clustering**, as defined in `measures.py`.

Overall: the same figures pooled over every persona (each price's weight its personas), and the
revenue-maximising price after influence (price × intent after).

The intervals carry only the sampling variability of drawing the personas; after influence the
tied personas are dependent, so they are optimistic there. The network, the susceptibility scale
and the homophily strengths are assumptions (listed under `assumptions`), not estimates: nothing
in the bundled data measures how people talk each other into a purchase. The figures describe
what the model of influence implies, not a measured effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats as sps

from studies.analyzers.pricing import BUYING, INTENT_OPTIONS
from studies.analyzers.stats import wilson
from studies.influence.compute import group_from_personas
from studies.influence.simulate import InfluenceParams, assumptions, influence_simulate

OPTIONS: Final = [code for code, _ in INTENT_OPTIONS]
BUY_COLUMNS: Final = [k for k, code in enumerate(OPTIONS) if code in BUYING]
#: The module's description from its second paragraph on, as one line of text for the report.
METHOD: Final = " ".join((__doc__ or "").split("\n\n", 1)[-1].split()).replace("**", "")


def _interval(share: float, n: int) -> dict[str, Any]:
    low, high = wilson(share, n) if n else (None, None)
    return {"share": share if n else None, "ci_low": low, "ci_high": high}


def paired_change(before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    """Mean of after − before with a 95 % t interval (None with fewer than two personas)."""
    change = after - before
    n = change.size
    if n < 2:
        return {"estimate": float(change.mean()) if n else None, "ci_low": None, "ci_high": None}
    mean = float(change.mean())
    half = float(sps.t.ppf(0.975, n - 1) * change.std(ddof=1) / np.sqrt(n))
    return {"estimate": mean, "ci_low": mean - half, "ci_high": mean + half}


def _price_effects(
    personas: list[dict[str, Any]], chosen: Sequence[str], params: InfluenceParams
) -> dict[str, Any]:
    """The figures of one price's personas (each a dict of compute.PERSONA_COLUMNS, with the
    intent option each chose)."""
    initial = np.eye(len(OPTIONS))[[OPTIONS.index(code) for code in chosen]]
    group = group_from_personas(personas, initial=initial, options=OPTIONS)
    outcome = influence_simulate(group, params)
    wiring = outcome.wiring
    assert wiring is not None  # influence is on
    before = initial[:, BUY_COLUMNS].sum(axis=1)
    after = outcome.final[:, BUY_COLUMNS].sum(axis=1)
    n = group.size
    # Non-buyers with a tie who intends to buy: they heard a recommendation.
    buying_ties = np.asarray(wiring.network.adjacency @ before).ravel()
    heard = (before == 0) & (buying_ties > 0)
    results = outcome.results
    return {
        "n": n,
        "intent_before": _interval(float(before.mean()), n),
        "intent_after": _interval(float(after.mean()), n),
        "group_buying_influence": paired_change(before, after),
        "peer_recommendation_impact": {
            "n": int(heard.sum()),
            **_interval(float(after[heard].mean()) if heard.any() else 0.0, int(heard.sum())),
        },
        "average_influence": results["peer_influence_effects"]["average_influence"],
        "conformity_pressure": results["group_dynamics"]["conformity_pressure"],
        "social_influence_strength": results["group_dynamics"]["social_influence_strength"],
        "similarity_clustering": results["peer_influence_effects"]["similarity_clustering"],
        "mean_susceptibility": results["group_dynamics"]["mean_susceptibility"],
        "ties": results["network"]["ties"],
        "isolated_personas": results["network"]["isolated_personas"],
        "rounds": results["dynamics"]["rounds"],
        "converged": results["dynamics"]["converged"],
        "_before": before,
        "_after": after,
        "_initial": initial,
        "_final": outcome.final,
        "_heard": heard,
    }


def market_influence(
    frame: pd.DataFrame,
    personas: Mapping[Any, dict[str, Any]],
    *,
    prices: Mapping[str, float],
    seed: int,
    params: InfluenceParams | None = None,
) -> dict[str, Any]:
    """`multi_agent_effects` from the per-persona frame (columns `persona_id`, `condition`,
    `intent_score` 5..1 as `studies.analyzers.market.market_frame` makes it) and each persona's
    attributes by id (compute.PERSONA_COLUMNS). A price with fewer than two personas has no
    figures (`not_computed` says why)."""
    params = params or InfluenceParams()
    by_price, pooled = [], []
    for k, (condition, price) in enumerate(sorted(prices.items(), key=lambda kv: kv[1])):
        arm = frame[frame["condition"] == condition]
        people = [personas[p] for p in arm["persona_id"] if p in personas]
        order = np.argsort([p["index"] for p in people], kind="stable")
        scores = arm.loc[arm["persona_id"].isin(list(personas)), "intent_score"].to_numpy()
        chosen = [OPTIONS[int(5 - scores[i])] for i in order]
        row: dict[str, Any] = {"condition": condition, "price": price}
        if len(people) < 2:
            row |= {"n": len(people), "not_computed": "fewer than two personas saw this price"}
        else:
            # A stream of its own per price, so each price's network is drawn independently.
            stream = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
            effects = _price_effects(
                [people[i] for i in order], chosen, replace(params, seed=stream)
            )
            pooled.append(effects)
            row |= {key: v for key, v in effects.items() if not key.startswith("_")}
        by_price.append(row)
    result: dict[str, Any] = {
        "method": METHOD,
        "by_price": by_price,
        "assumptions": assumptions(params)
        | {
            "x0": "the indicator of the option each persona chose (one answer, no "
            "probabilities); after influence, its distribution x(T)",
            "groups": "the personas who saw the same price; ties stay within a price",
            "seed": "each price's network from its own stream of the run's seed",
        },
    }
    result["overall"] = _overall(pooled, by_price) if pooled else None
    return result


def _overall(pooled: list[dict[str, Any]], by_price: list[dict[str, Any]]) -> dict[str, Any]:
    before = np.concatenate([e["_before"] for e in pooled])
    after = np.concatenate([e["_after"] for e in pooled])
    initial = np.concatenate([e["_initial"] for e in pooled])
    final = np.concatenate([e["_final"] for e in pooled])
    heard = np.concatenate([e["_heard"] for e in pooled])
    sizes = np.array([e["n"] for e in pooled], dtype=float)
    n = before.size
    computed = [r for r in by_price if "not_computed" not in r]
    after_intent = [r["intent_after"]["share"] for r in computed]
    best = max(range(len(computed)), key=lambda i: computed[i]["price"] * after_intent[i])
    before_intent = [r["intent_before"]["share"] for r in computed]
    best_before = max(range(len(computed)), key=lambda i: computed[i]["price"] * before_intent[i])
    return {
        "n": n,
        "intent_before": _interval(float(before.mean()), n),
        "intent_after": _interval(float(after.mean()), n),
        "group_buying_influence": paired_change(before, after),
        "peer_recommendation_impact": {
            "n": int(heard.sum()),
            **_interval(float(after[heard].mean()) if heard.any() else 0.0, int(heard.sum())),
        },
        "average_influence": float(0.5 * np.abs(final - initial).sum(axis=1).mean()),
        "conformity_pressure": float(
            np.average([e["conformity_pressure"] for e in pooled], weights=sizes)
        ),
        "optimal_price_before": computed[best_before]["price"],
        "optimal_price_after": computed[best]["price"],
    }
