"""Friedkin–Johnsen opinion dynamics over a persona network.

Each persona holds an opinion: its probability over the question's answer options. Round by round

    x(t+1) = Λ W x(t) + (I − Λ) x(0)

where W is the row-normalised tie matrix (each persona listens to its ties equally), Λ = diag(λ)
holds each persona's susceptibility to interpersonal influence and x(0) is the persona's own,
uninfluenced opinion, to which it stays anchored with weight 1 − λ (Friedkin & Johnsen 1990,
"Social influence and opinions", Journal of Mathematical Sociology 15(3-4); Friedkin & Johnsen
1999, "Social influence networks and opinion change", Advances in Group Processes 16). When every
λ < 1 the rounds converge to the unique equilibrium

    x* = (I − ΛW)⁻¹ (I − Λ) x(0)

(ΛW then has spectral radius below 1). Rows stay probability vectors: each round is a convex
combination of probability vectors. A persona with no ties keeps x(0) (its λ acts on nobody).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

DEFAULT_MAX_ROUNDS: Final = 10
DEFAULT_TOLERANCE: Final = 1e-6


@dataclass(frozen=True)
class Dynamics:
    """The opinions after the last round, the share of each option after every round (round 0
    first), the rounds run and whether the largest change of the last round was within the
    tolerance."""

    final: np.ndarray  # n × K
    shares: np.ndarray  # (rounds + 1) × K
    rounds: int
    converged: bool
    last_change: float


def friedkin_johnsen(
    weights: sp.csr_matrix,
    susceptibility: np.ndarray,
    initial: np.ndarray,
    *,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Dynamics:
    """Iterate the FJ update from `initial` (n × K) until the largest change of any persona's
    probability is at most `tolerance`, or `max_rounds` rounds."""
    lam = np.asarray(susceptibility, dtype=float)[:, None]
    anchor = (1.0 - lam) * initial
    x = np.array(initial, dtype=float)
    shares = [x.mean(axis=0)]
    change, rounds = np.inf, 0
    while rounds < max_rounds:
        following = lam * (weights @ x) + anchor
        change = float(np.abs(following - x).max()) if x.size else 0.0
        x, rounds = following, rounds + 1
        shares.append(x.mean(axis=0))
        if change <= tolerance:
            break
    return Dynamics(
        final=x,
        shares=np.vstack(shares),
        rounds=rounds,
        converged=bool(change <= tolerance),
        last_change=change if np.isfinite(change) else 0.0,
    )


def fj_equilibrium(
    weights: sp.csr_matrix, susceptibility: np.ndarray, initial: np.ndarray
) -> np.ndarray:
    """The closed-form equilibrium x* = (I − ΛW)⁻¹ (I − Λ) x(0) (requires every λ < 1)."""
    n = weights.shape[0]
    lam = sp.diags(np.asarray(susceptibility, dtype=float))
    system = sp.csc_matrix(sp.identity(n) - lam @ weights)
    rhs = (1.0 - np.asarray(susceptibility, dtype=float))[:, None] * initial
    solved = spla.spsolve(system, rhs)
    return np.asarray(solved).reshape(initial.shape)


def effective_susceptibility(susceptibility: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """λ with 0 for personas without ties: nobody influences them, so they keep x(0)."""
    return np.where(degrees > 0, np.asarray(susceptibility, dtype=float), 0.0)
