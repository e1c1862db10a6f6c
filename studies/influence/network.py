"""Seeded homophily networks over personas: who talks to whom in a group.

The generator is a stochastic block model whose blocks are the personas' attribute combinations
(age bracket, race/ethnicity, education, party) within each group. Two personas ``i`` and ``j`` of
the same group are tied independently with probability

    p_ij = min(1, c · exp(Σ_k β_k · [a_ik = a_jk]))

where ``β_k`` is the homophily strength of attribute ``k`` (a log odds ratio: a tie between two
people who share attribute ``k`` is ``e^β_k`` times as likely, other things equal; McPherson,
Smith-Lovin & Cook 2001, "Birds of a feather", Annual Review of Sociology 27) and ``c`` is chosen so
that the expected mean degree is the one asked for. An unknown attribute (a persona with no party)
matches nobody. Personas of different groups are never tied.

Because ``p_ij`` depends only on the two personas' blocks, the number of ties between two blocks is
one binomial draw and their endpoints are uniform draws inside the blocks (the standard SBM
sampler), so the graph is built in time proportional to the ties, not to the n² pairs: 100,000
personas are a fraction of a second. Everything is drawn from ``numpy.random.default_rng(seed)``;
personas enter by their position in the input, never by a database id, so the same personas,
parameters and seed give the same graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import scipy.sparse as sp

#: Attributes homophily acts on, with their default strengths (log odds ratio of a tie for a pair
#: that shares the attribute). Assumptions, not estimates: of the order of the within-group tie
#: preferences reported for race, age, education and politics in discussion networks (McPherson
#: et al. 2001), race strongest.
DEFAULT_HOMOPHILY: Final[dict[str, float]] = {
    "age_bracket": 0.7,
    "race_ethnicity": 1.0,
    "education": 0.6,
    "party": 0.9,
}
DEFAULT_MEAN_DEGREE: Final = 8.0
#: A trailing group smaller than this joins the group before it (a group of one has nobody to
#: listen to).
MIN_GROUP: Final = 2
#: A group with at most this many pairs of members gets one Bernoulli draw per pair (exact, and
#: no pair drawn twice); a larger one is sampled block by block.
DENSE_PAIRS: Final = 20_000


@dataclass(frozen=True)
class NetworkSpec:
    """How a network is drawn: mean degree, group size (None = one group of everyone), homophily."""

    mean_degree: float = DEFAULT_MEAN_DEGREE
    group_size: int | None = None
    homophily: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_HOMOPHILY))
    seed: int = 0


@dataclass(frozen=True)
class Network:
    """An undirected graph over ``n`` personas (symmetric 0/1 CSR adjacency) and their groups."""

    adjacency: sp.csr_matrix
    groups: np.ndarray  # group number of each persona
    scale: float  # the fitted c
    clipped_pairs: int  # block pairs whose probability was cut to 1 (mean degree then falls short)

    @property
    def size(self) -> int:
        return int(self.adjacency.shape[0])

    @property
    def degrees(self) -> np.ndarray:
        return np.asarray(self.adjacency.sum(axis=1)).ravel()

    @property
    def mean_degree(self) -> float:
        return float(self.degrees.mean()) if self.size else 0.0

    def row_normalised(self) -> sp.csr_matrix:
        """W: each persona's ties weighted equally, rows summing to 1 (0 for an isolated persona)."""
        degrees = self.degrees.astype(float)
        inverse = np.divide(1.0, degrees, out=np.zeros_like(degrees), where=degrees > 0)
        return sp.csr_matrix(sp.diags(inverse) @ self.adjacency)


def attribute_codes(values: Mapping[str, list[str | None]], attributes: list[str]) -> np.ndarray:
    """An (n × k) integer matrix of category codes, one column per attribute; -1 for unknown."""
    columns = []
    for name in attributes:
        column = np.asarray([v if v not in (None, "") else "" for v in values[name]], dtype=object)
        levels, codes = np.unique(column.astype(str), return_inverse=True)
        codes = codes.astype(np.int64)
        if "" in levels:
            codes[column.astype(str) == ""] = -1
        columns.append(codes)
    n = len(next(iter(values.values()))) if values else 0
    return np.column_stack(columns) if columns else np.zeros((n, 0), dtype=np.int64)


def assign_groups(n: int, group_size: int | None, rng: np.random.Generator) -> np.ndarray:
    """Each persona's group: a seeded random partition into groups of `group_size`; a trailing
    group smaller than MIN_GROUP joins the one before it."""
    if group_size is None or group_size >= n:
        return np.zeros(n, dtype=np.int64)
    order = rng.permutation(n)
    groups = np.empty(n, dtype=np.int64)
    groups[order] = np.arange(n) // group_size
    last = (n - 1) // group_size
    if last > 0 and n - last * group_size < MIN_GROUP:
        groups[groups == last] = last - 1
    return groups


def network_generate(codes: np.ndarray, spec: NetworkSpec) -> Network:
    """A seeded homophily network over personas described by `codes` (see `attribute_codes`),
    with the attributes' strengths in `spec.homophily` in the same column order."""
    n = int(codes.shape[0])
    rng = np.random.default_rng(spec.seed)
    groups = assign_groups(n, spec.group_size, rng)
    beta = np.asarray(list(spec.homophily.values()), dtype=float)
    if beta.size != codes.shape[1]:
        raise ValueError(f"{codes.shape[1]} attribute columns but {beta.size} homophily strengths")

    # Blocks: personas of one group sharing every attribute code.
    keys = np.column_stack([groups, codes])
    block_keys, block_of, sizes = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    block_of = block_of.ravel()
    left, right = _block_pairs(block_keys[:, 0])
    affinity = _affinity(block_keys[left, 1:], block_keys[right, 1:], beta)
    pairs = np.where(
        left == right, sizes[left] * (sizes[left] - 1) / 2.0, sizes[left] * sizes[right] * 1.0
    )
    # c such that the expected ties are n · degree / 2; a group caps its members' degree (a
    # council of 12 cannot average 20 ties).
    group_sizes = np.bincount(groups) if n else np.zeros(0, dtype=np.int64)
    target = float(np.minimum(spec.mean_degree, group_sizes[groups] - 1).sum()) / 2.0
    weight = float((pairs * affinity).sum())
    scale = target / weight if weight > 0 else 0.0
    clipped = int((scale * affinity > 1.0).sum())

    sources, targets = [], []
    members_of_group = np.split(np.argsort(groups, kind="stable"), np.cumsum(group_sizes)[:-1])
    large = []
    for group, members in enumerate(members_of_group):
        if members.size * (members.size - 1) // 2 <= DENSE_PAIRS:
            src, dst = _exact_ties(members, codes, beta, scale, rng)
            sources.append(src)
            targets.append(dst)
        else:
            large.append(group)
    if large:
        src, dst = _block_ties(
            np.isin(block_keys[:, 0], large), block_of, sizes, left, right, affinity, scale, rng
        )
        sources.append(src)
        targets.append(dst)
    src = np.concatenate(sources) if sources else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)
    adjacency = sp.csr_matrix(
        (np.ones(2 * src.size), (np.concatenate([src, dst]), np.concatenate([dst, src]))),
        shape=(n, n),
    )
    adjacency.data[:] = 1.0  # a pair drawn twice (large groups only) counts once
    return Network(adjacency=adjacency, groups=groups, scale=scale, clipped_pairs=clipped)


def _affinity(a: np.ndarray, b: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """exp(Σ_k β_k · [a_k = b_k]) per row; an unknown code (-1) matches nothing."""
    shared = (a == b) & (a >= 0)
    return np.exp(shared.astype(float) @ beta) if beta.size else np.ones(a.shape[0])


def _exact_ties(
    members: np.ndarray, codes: np.ndarray, beta: np.ndarray, scale: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A small group: one Bernoulli draw per pair of its members."""
    i, j = np.triu_indices(members.size, k=1)
    probability = np.minimum(1.0, scale * _affinity(codes[members[i]], codes[members[j]], beta))
    tied = rng.random(i.size) < probability
    return members[i[tied]], members[j[tied]]


def _block_ties(
    chosen: np.ndarray,
    block_of: np.ndarray,
    sizes: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    affinity: np.ndarray,
    scale: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Large groups (blocks `chosen`): a binomial count of ties per pair of blocks, endpoints
    uniform inside each block (two distinct members when both ends are in one block)."""
    keep = chosen[left]
    left, right, affinity = left[keep], right[keep], affinity[keep]
    same = left == right
    pairs = np.where(same, sizes[left] * (sizes[left] - 1) // 2, sizes[left] * sizes[right])
    counts = rng.binomial(pairs.astype(np.int64), np.minimum(1.0, scale * affinity))
    members = np.argsort(block_of, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    src_block, dst_block = np.repeat(left, counts), np.repeat(right, counts)
    src_local = _uniform_index(rng, sizes[src_block])
    dst_local = _uniform_index(rng, sizes[dst_block])
    inside = np.repeat(same, counts)
    # Within one block the second end is one of the other members.
    dst_local[inside] = (
        src_local[inside] + 1 + _uniform_index(rng, sizes[dst_block[inside]] - 1)
    ) % sizes[dst_block[inside]]
    return members[starts[src_block] + src_local], members[starts[dst_block] + dst_local]


def _block_pairs(block_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (left ≤ right) pair of blocks of the same group; blocks are sorted by group."""
    bounds = np.flatnonzero(np.diff(block_group)) + 1
    lefts, rights = [], []
    for start, end in zip(
        np.concatenate([[0], bounds]), np.concatenate([bounds, [block_group.size]]), strict=True
    ):
        i, j = np.triu_indices(int(end - start))
        lefts.append(i + start)
        rights.append(j + start)
    if not lefts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(lefts), np.concatenate(rights)


def _uniform_index(rng: np.random.Generator, sizes: np.ndarray) -> np.ndarray:
    return np.floor(rng.random(sizes.size) * sizes).astype(np.int64)
