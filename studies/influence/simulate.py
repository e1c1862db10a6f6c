"""One peer-influence simulation over arrays: network, Friedkin–Johnsen rounds, measures.

Free of the database, so the run's finishing step (`studies.influence.compute`) and the benchmark
call the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import scipy.sparse as sp

from studies.influence import measures
from studies.influence.dynamics import (
    DEFAULT_MAX_ROUNDS,
    DEFAULT_TOLERANCE,
    Dynamics,
    effective_susceptibility,
    friedkin_johnsen,
)
from studies.influence.network import (
    DEFAULT_HOMOPHILY,
    DEFAULT_MEAN_DEGREE,
    Network,
    NetworkSpec,
    attribute_codes,
    network_generate,
)

#: λ = scale × conformity tendency: an assumption (no bundled data measures susceptibility). Kept
#: below 1 so every persona stays anchored to its own view and the rounds converge.
DEFAULT_SUSCEPTIBILITY_SCALE: Final = 0.8
#: LLM deliberation (`studies.influence.deliberation`): rounds after the independent answers, and
#: how many of a persona's ties it hears each round (most influential first).
DEFAULT_DELIBERATION_ROUNDS: Final = 3
DEFAULT_NEIGHBOURS_SHOWN: Final = 5


@dataclass(frozen=True)
class InfluenceParams:
    enable_peer_influence: bool = True
    group_size: int | None = None
    mean_degree: float = DEFAULT_MEAN_DEGREE
    homophily: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HOMOPHILY))
    susceptibility_scale: float = DEFAULT_SUSCEPTIBILITY_SCALE
    max_rounds: int = DEFAULT_MAX_ROUNDS
    tolerance: float = DEFAULT_TOLERANCE
    seed: int = 0
    #: LLM backend only (None on the poll model, whose influence is Friedkin–Johnsen's).
    deliberation_rounds: int | None = None
    neighbours_shown: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "enable_peer_influence": self.enable_peer_influence,
            "group_size": self.group_size,
            "mean_degree": self.mean_degree,
            "homophily": dict(self.homophily),
            "susceptibility_scale": self.susceptibility_scale,
            "max_rounds": self.max_rounds,
            "tolerance": self.tolerance,
            "seed": self.seed,
            "deliberation_rounds": self.deliberation_rounds,
            "neighbours_shown": self.neighbours_shown,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InfluenceParams:
        return cls(**data)


@dataclass(frozen=True)
class Group:
    """The personas of a simulation as arrays, in one order (their positions in the population).

    `attributes` are what homophily acts on (None = unknown); `categories` what the shares are
    broken down by; `initial` is each persona's answer probabilities (n × K, option order of
    `options`) from the poll model, `conformity` its conformity tendency on [0, 1]."""

    attributes: dict[str, list[str | None]]
    categories: dict[str, np.ndarray]
    conformity: np.ndarray
    initial: np.ndarray
    options: list[str]
    #: Each persona's weight in the shares (its modelled chance of belonging to the question's
    #: universe; None = all 1).
    weights: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.initial.shape[0])


@dataclass(frozen=True)
class Outcome:
    results: dict[str, Any]
    final: np.ndarray  # each persona's probabilities after influence (= initial when off)
    susceptibility: np.ndarray
    degrees: np.ndarray
    wiring: Wiring | None = None  # the network drawn (None with influence off)


def assumptions(params: InfluenceParams) -> dict[str, Any]:
    """The parameters that are assumptions, not estimates, named as such in every result."""
    return {
        "model": "Friedkin–Johnsen: x(t+1) = Λ W x(t) + (I − Λ) x(0) (Friedkin & Johnsen 1990, "
        "1999); W = ties weighted equally; x(0) = each persona's answer probabilities from the "
        "poll model",
        "susceptibility": f"λ = {params.susceptibility_scale} × conformity tendency "
        "(personas.awareness: behavioural conformity trait, else mean of agreeableness, "
        "conscientiousness and 1 − openness, else 0.5); 0 for a persona without ties",
        "network": "stochastic block model over age bracket, race/ethnicity, education and "
        "party within each group; tie odds multiplied by e^β for each shared attribute",
        "homophily_strengths": dict(params.homophily),
        "mean_degree": params.mean_degree,
        "group_size": params.group_size,
        "groups": "a seeded random partition of the personas"
        if params.group_size
        else "one group of every persona",
        "round_limit": params.max_rounds,
        "tolerance": params.tolerance,
        "intervals": "95 % Wilson interval at n personas: the sampling variability of drawing "
        "the personas only; not the poll model's uncertainty, and optimistic after influence, "
        "which makes tied personas dependent",
    }


@dataclass(frozen=True)
class Wiring:
    """A group's network: its ties, their row-normalised weights, the attribute codes homophily
    read, and each persona's susceptibility (0 without ties)."""

    network: Network
    codes: np.ndarray
    weights: sp.csr_matrix
    susceptibility: np.ndarray


def group_wiring(group: Group, params: InfluenceParams) -> Wiring:
    """The seeded homophily network of the group, with W and λ."""
    codes = attribute_codes(group.attributes, list(params.homophily))
    network = network_generate(
        codes,
        NetworkSpec(
            mean_degree=params.mean_degree,
            group_size=params.group_size,
            homophily=params.homophily,
            seed=params.seed,
        ),
    )
    susceptibility = effective_susceptibility(
        params.susceptibility_scale * group.conformity, network.degrees
    )
    return Wiring(
        network=network,
        codes=codes,
        weights=network.row_normalised(),
        susceptibility=susceptibility,
    )


def influence_simulate(group: Group, params: InfluenceParams) -> Outcome:
    """Network, dynamics and measures for one group of personas; off only when
    `params.enable_peer_influence` is False (then nothing moves and no network is drawn)."""
    if group.size < 2:
        raise ValueError("a peer-influence simulation needs at least two personas")
    if not params.enable_peer_influence:
        zeros = np.zeros(group.size)
        return Outcome(
            results=influence_results(group, params, wiring=None, final=None, dynamics=None),
            final=group.initial,
            susceptibility=zeros,
            degrees=zeros,
        )
    wiring = group_wiring(group, params)
    dynamics = friedkin_johnsen(
        wiring.weights,
        wiring.susceptibility,
        group.initial,
        max_rounds=params.max_rounds,
        tolerance=params.tolerance,
    )
    results = influence_results(
        group,
        params,
        wiring=wiring,
        final=dynamics.final,
        dynamics=_dynamics_summary(dynamics, group.options),
    )
    return Outcome(
        results=results,
        final=dynamics.final,
        susceptibility=wiring.susceptibility,
        degrees=wiring.network.degrees,
        wiring=wiring,
    )


def influence_results(
    group: Group,
    params: InfluenceParams,
    *,
    wiring: Wiring | None,
    final: np.ndarray | None,
    dynamics: dict[str, Any] | None,
) -> dict[str, Any]:
    """The response's measures from the opinions before (`group.initial`) and after (`final`,
    None with influence off) influence over `wiring`."""
    initial = group.initial
    results: dict[str, Any] = {
        "personas": group.size,
        "options": list(group.options),
        "assumptions": assumptions(params),
        "comparison": {
            "influence_off": measures.shares(initial, group.options, group.weights),
            "influence_on": None
            if final is None
            else measures.shares(final, group.options, group.weights),
        },
        "breakdowns": measures.breakdowns(
            group.categories, group.options, initial, final, group.weights
        ),
        "group_dynamics": None,
        "peer_influence_effects": None,
        "network": None,
        "dynamics": dynamics,
    }
    if wiring is None or final is None:
        return results
    network, weights, susceptibility = wiring.network, wiring.weights, wiring.susceptibility
    results.update(
        group_dynamics={
            "group_diversity": measures.group_diversity(
                network.groups,
                {k: np.asarray([v or "unknown" for v in vs]) for k, vs in group.attributes.items()},
            ),
            "conformity_pressure": measures.conformity_pressure(weights, susceptibility, initial),
            "social_influence_strength": measures.social_influence_strength(initial, final),
            "mean_susceptibility": float(susceptibility.mean()),
        },
        peer_influence_effects={
            "average_influence": measures.average_influence(initial, final),
            "similarity_clustering": measures.answer_assortativity(network.adjacency, final),
            "similarity_clustering_before": measures.answer_assortativity(
                network.adjacency, initial
            ),
            "share_change": {
                code: float(after - was)
                for code, after, was in zip(
                    group.options, final.mean(axis=0), initial.mean(axis=0), strict=True
                )
            },
        },
        network=_network_summary(network, wiring.codes, params),
    )
    return results


def _network_summary(network: Network, codes: np.ndarray, params: InfluenceParams) -> dict:
    adjacency = network.adjacency.tocoo()
    upper = adjacency.row < adjacency.col
    rows, cols = adjacency.row[upper], adjacency.col[upper]
    same = {
        name: float(np.mean(codes[rows, k] == codes[cols, k])) if rows.size else None
        for k, name in enumerate(params.homophily)
    }
    return {
        "groups": int(np.unique(network.groups).size),
        "ties": int(rows.size),
        "mean_degree": network.mean_degree,
        "isolated_personas": int((network.degrees == 0).sum()),
        "share_of_ties_within_category": same,
        "probability_capped_block_pairs": network.clipped_pairs,
    }


def _dynamics_summary(dynamics: Dynamics, options: list[str]) -> dict:
    return {
        "rounds": dynamics.rounds,
        "converged": dynamics.converged,
        "last_change": dynamics.last_change,
        "trajectory": [
            {"round": t, "shares": {o: float(s) for o, s in zip(options, row, strict=True)}}
            for t, row in enumerate(dynamics.shares)
        ],
    }
