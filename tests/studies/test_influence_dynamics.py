from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from studies.influence import measures
from studies.influence.dynamics import fj_equilibrium, friedkin_johnsen
from studies.influence.network import NetworkSpec, network_generate
from studies.influence.simulate import Group, InfluenceParams, influence_simulate


def _small_world(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = np.column_stack([rng.integers(0, 3, n), rng.integers(0, 2, n)])
    network = network_generate(
        codes, NetworkSpec(mean_degree=5, homophily={"a": 0.5, "b": 0.5}, seed=seed)
    )
    initial = rng.dirichlet(np.ones(3), size=n)
    susceptibility = rng.uniform(0.1, 0.9, size=n) * (network.degrees > 0)
    return network, susceptibility, initial


def test_rounds_converge_to_the_closed_form_friedkin_johnsen_equilibrium():
    network, susceptibility, initial = _small_world()
    weights = network.row_normalised()
    dynamics = friedkin_johnsen(weights, susceptibility, initial, max_rounds=2000, tolerance=1e-12)
    assert dynamics.converged
    expected = fj_equilibrium(weights, susceptibility, initial)
    assert dynamics.final == pytest.approx(expected, abs=1e-9)
    # Opinions stay probability distributions every round.
    assert dynamics.final.sum(axis=1) == pytest.approx(np.ones(len(initial)))
    assert dynamics.shares.shape == (dynamics.rounds + 1, 3)


def test_the_equilibrium_of_a_hand_made_pair_is_the_textbook_one():
    # Two people listening only to each other, λ = 0.5: x* = (I − ΛW)⁻¹(I − Λ)x(0).
    weights = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    initial = np.array([[1.0, 0.0], [0.0, 1.0]])
    final = friedkin_johnsen(weights, np.array([0.5, 0.5]), initial, max_rounds=200).final
    # x1 = 0.5 x2 + 0.5 e1, x2 = 0.5 x1 + 0.5 e2  =>  x1 = (2/3, 1/3)
    assert final == pytest.approx(np.array([[2 / 3, 1 / 3], [1 / 3, 2 / 3]]), abs=1e-6)


def test_without_susceptibility_nobody_moves():
    network, _, initial = _small_world()
    dynamics = friedkin_johnsen(network.row_normalised(), np.zeros(len(initial)), initial)
    assert (dynamics.final == initial).all()
    assert dynamics.rounds == 1 and dynamics.converged


def _group(n: int = 60, seed: int = 0) -> Group:
    rng = np.random.default_rng(seed)
    pick = lambda values: [values[i] for i in rng.integers(0, len(values), n)]  # noqa: E731
    attributes = {
        "age_bracket": pick(["18-29", "30-44", "45-64", "65+"]),
        "race_ethnicity": pick(["white", "black", "hispanic"]),
        "education": pick(["hs", "college"]),
        "party": pick(["democrat", "republican", None]),
    }
    return Group(
        attributes=attributes,
        categories={"area": np.asarray(pick(["a", "b"])), "sex": np.asarray(pick(["f", "m"]))},
        conformity=rng.uniform(0, 1, n),
        initial=rng.dirichlet(np.ones(2), size=n),
        options=["support", "oppose"],
    )


def test_influence_off_leaves_every_answer_at_its_independent_probabilities():
    group = _group()
    outcome = influence_simulate(group, InfluenceParams(enable_peer_influence=False, seed=1))
    assert outcome.final is group.initial
    results = outcome.results
    assert results["comparison"]["influence_on"] is None
    assert results["group_dynamics"] is None
    off = {r["option"]: r["share"] for r in results["comparison"]["influence_off"]}
    assert off["support"] == pytest.approx(group.initial[:, 0].mean())


def test_influence_on_reports_measures_side_by_side_and_names_its_assumptions():
    group = _group()
    outcome = influence_simulate(group, InfluenceParams(seed=2, max_rounds=50))
    results = outcome.results
    dynamics = results["group_dynamics"]
    assert 0 < dynamics["group_diversity"]["value"] < 1
    assert 0 < dynamics["conformity_pressure"] < 1
    assert 0 < dynamics["social_influence_strength"] <= 1
    effects = results["peer_influence_effects"]
    assert effects["average_influence"] == pytest.approx(
        measures.total_variation(outcome.final, group.initial).mean()
    )
    assert results["comparison"]["influence_off"] and results["comparison"]["influence_on"]
    for row in results["comparison"]["influence_on"]:
        assert row["ci_low"] <= row["share"] <= row["ci_high"]
    assert {r["category"] for r in results["breakdowns"]["area"]} == {"a", "b"}
    assert "susceptibility" in results["assumptions"]
    assert results["assumptions"]["homophily_strengths"] == InfluenceParams().homophily
    assert results["dynamics"]["trajectory"][0]["round"] == 0


def test_a_group_of_one_is_refused():
    with pytest.raises(ValueError, match="at least two personas"):
        influence_simulate(_group(n=1), InfluenceParams())


def test_blau_index_and_assortativity_follow_their_definitions():
    assert measures.blau_index(np.array(["a", "a", "b", "b"])) == pytest.approx(0.5)
    assert measures.blau_index(np.array(["a", "a"])) == 0
    # Two cliques of like-minded people: perfectly assortative.
    adjacency = sp.csr_matrix(
        np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=float)
    )
    opinions = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7]])
    assert measures.answer_assortativity(adjacency, opinions) == pytest.approx(1.0)
    crossed = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])
    assert measures.answer_assortativity(adjacency, crossed) == pytest.approx(-1.0)


def test_weighted_shares_count_each_persona_by_its_universe_weight():
    opinions = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    weighted = measures.shares(opinions, ["yes", "no"], np.array([2.0, 1.0, 1.0]))
    assert weighted[0]["share"] == pytest.approx(0.5)
    plain = measures.shares(opinions, ["yes", "no"])
    assert plain[0]["share"] == pytest.approx(1 / 3)
    assert plain[0]["ci_low"] < 1 / 3 < plain[0]["ci_high"]


def test_answers_after_influence_follow_the_final_probabilities_and_change_only_as_much():
    from studies.influence.compute import answers_after

    n = 200_000
    initial = np.tile([0.6, 0.3, 0.1], (n, 1))
    final = np.tile([0.4, 0.35, 0.25], (n, 1))
    before = np.random.default_rng(0).choice(3, size=n, p=initial[0])
    after = answers_after(before, initial, final, seed=1)
    assert np.bincount(after, minlength=3) / n == pytest.approx(final[0], abs=0.005)
    # A persona changes with probability TV(initial, final) = 0.2, never to a falling option.
    assert np.mean(after != before) == pytest.approx(0.2, abs=0.005)
    assert not ((after == 0) & (before != 0)).any()
    unchanged = answers_after(before, initial, initial, seed=1)
    assert (unchanged == before).all()
