from __future__ import annotations

import numpy as np
import pytest

from studies.influence.network import NetworkSpec, attribute_codes, network_generate


def _codes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.integers(0, 6, n),
            rng.integers(0, 5, n),
            rng.integers(0, 4, n),
            rng.integers(-1, 3, n),
        ]
    )


def _edges(network) -> set[tuple[int, int]]:
    coo = network.adjacency.tocoo()
    return {(int(i), int(j)) for i, j in zip(coo.row, coo.col, strict=True) if i < j}


@pytest.mark.parametrize("group_size", [None, 12, 500])
def test_the_same_seed_draws_the_same_graph_and_another_seed_another(group_size):
    codes = _codes(3000)
    first = network_generate(codes, NetworkSpec(group_size=group_size, seed=11))
    again = network_generate(codes, NetworkSpec(group_size=group_size, seed=11))
    other = network_generate(codes, NetworkSpec(group_size=group_size, seed=12))
    assert _edges(first) == _edges(again)
    assert (first.groups == again.groups).all()
    assert _edges(first) != _edges(other)


def test_ties_join_personas_who_share_an_attribute_more_often_than_those_who_do_not():
    codes = _codes(6000, seed=1)
    network = network_generate(codes, NetworkSpec(mean_degree=10, seed=3))
    coo = network.adjacency.tocoo()
    upper = coo.row < coo.col
    rows, cols = coo.row[upper], coo.col[upper]
    n = codes.shape[0]
    for k, name in enumerate(["age_bracket", "race_ethnicity", "education", "party"]):
        known = codes[:, k] >= 0
        counts = np.bincount(codes[known, k])
        same_pairs = float((counts * (counts - 1) / 2).sum())
        all_pairs = known.sum() * (known.sum() - 1) / 2
        tie_known = (codes[rows, k] >= 0) & (codes[cols, k] >= 0)
        same_ties = float(((codes[rows, k] == codes[cols, k]) & tie_known).sum())
        within = same_ties / same_pairs
        across = (tie_known.sum() - same_ties) / (all_pairs - same_pairs)
        assert within > 1.5 * across, name
    assert network.size == n


def test_mean_degree_is_the_one_asked_for_and_ties_stay_inside_groups():
    codes = _codes(5000, seed=2)
    whole = network_generate(codes, NetworkSpec(mean_degree=6, seed=1))
    assert whole.mean_degree == pytest.approx(6, rel=0.05)
    neighbourhoods = network_generate(codes, NetworkSpec(mean_degree=6, group_size=500, seed=1))
    assert neighbourhoods.mean_degree == pytest.approx(6, rel=0.05)
    coo = neighbourhoods.adjacency.tocoo()
    assert (neighbourhoods.groups[coo.row] == neighbourhoods.groups[coo.col]).all()
    assert np.bincount(neighbourhoods.groups).tolist() == [500] * 10
    assert (coo.row != coo.col).all()


def test_a_trailing_group_of_one_joins_the_group_before_it():
    network = network_generate(_codes(25), NetworkSpec(group_size=12, seed=4))
    assert sorted(np.bincount(network.groups).tolist()) == [12, 13]


def test_unknown_attribute_values_match_nobody():
    codes = attribute_codes({"party": ["democrat", None, "", "republican", "democrat"]}, ["party"])
    assert codes.ravel().tolist()[1:3] == [-1, -1]
    assert codes[0, 0] == codes[4, 0] != codes[3, 0]
