"""Fitting the poll model: penalised multinomial logistic regression, read as a multilevel model.

A multilevel (random-effects) logistic model with normal priors on each group's effects has, at its
posterior mode, the same estimate as a logistic regression whose coefficients carry a ridge penalty
of 1 / (2 σ²) per group. scikit-learn fits one penalty for every coefficient, so each block of
columns is multiplied by its prior scale before the fit (a coefficient of a column scaled by s has
prior standard deviation s · √C on the original scale). The prior scales of the pooled blocks (state
and region effects, interactions) are chosen by the Laplace approximation of the marginal likelihood
(type-II maximum likelihood, MacKay 1992) over a small grid, and the same Laplace approximation gives
the posterior covariance that the intervals draw from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

# scikit-learn is imported by the fit, not with this module: the admin and the validation targets
# import this module in every process, and sklearn (with the parts of scipy it loads) is about a
# second of each process's start, though only a fit uses it.
if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

# Prior variance of every scaled coefficient (sklearn's C): scales are relative to √C = 1.
PRIOR_C = 1.0
# The intercepts are all but unpenalised by sklearn; the Laplace step gives them a wide normal prior
# (sd 10 on the log-odds scale) so that the posterior covariance is proper.
INTERCEPT_PRIOR_VAR = 100.0


@dataclass
class Fit:
    """A fitted model: coefficients per class (K × p), intercepts (K), the Cholesky factor of the
    posterior covariance of the stacked parameters, and how it was chosen."""

    coef: np.ndarray
    intercept: np.ndarray
    chol: np.ndarray
    log_evidence: float
    n: int
    seconds: float
    iterations: int
    diagnostics: dict = field(default_factory=dict)

    @property
    def classes(self) -> int:
        return self.coef.shape[0]

    def logits(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef.T + self.intercept

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Posterior-mode probabilities, one row per profile, one column per class."""
        return _softmax(self.logits(X))

    def draws(self, X: np.ndarray, *, count: int, seed: int) -> np.ndarray:
        """Probabilities under `count` draws of the parameters from the Laplace posterior:
        an array (count, rows, classes)."""
        rng = np.random.default_rng(seed)
        K, p = self.coef.shape
        mode = np.concatenate([self.coef, self.intercept[:, None]], axis=1).ravel()
        z = rng.standard_normal((count, mode.size))
        params = mode + z @ self.chol.T
        out = np.empty((count, X.shape[0], K))
        Xi = np.hstack([X, np.ones((X.shape[0], 1))])
        for s in range(count):
            B = params[s].reshape(K, p + 1)
            out[s] = _softmax(Xi @ B.T)
        return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def _symmetric(model: LogisticRegression, K: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's coefficients as K rows (a binary fit has one row for class 1; class 0 gets 0)."""
    if K == 2:
        coef = np.vstack([np.zeros_like(model.coef_[0]), model.coef_[0]])
        intercept = np.array([0.0, model.intercept_[0]])
        return coef, intercept
    return model.coef_.copy(), model.intercept_.copy()


def _hessian(X: np.ndarray, probs: np.ndarray, counts: np.ndarray, binary: bool) -> np.ndarray:
    """Hessian of the negative log likelihood over the stacked (coef, intercept) parameters."""
    Xi = np.hstack([X, np.ones((X.shape[0], 1))])
    if binary:
        w = counts * probs[:, 1] * probs[:, 0]
        return (Xi * w[:, None]).T @ Xi
    K = probs.shape[1]
    q = Xi.shape[1]
    H = np.empty((K * q, K * q))
    for k in range(K):
        for m in range(k, K):
            w = counts * probs[:, k] * ((k == m) - probs[:, m])
            block = (Xi * w[:, None]).T @ Xi
            H[k * q : (k + 1) * q, m * q : (m + 1) * q] = block
            H[m * q : (m + 1) * q, k * q : (k + 1) * q] = block.T
    return H


def fit_penalised(
    X: np.ndarray, y: np.ndarray, classes: int, counts: np.ndarray | None = None
) -> Fit:
    """Fit at the posterior mode, then the Laplace posterior and log evidence.

    Rows may be distinct (profile, answer) pairs with `counts` respondents each: the likelihood,
    and so the fit, is the same as with one row per respondent, at a fraction of the cost.
    """
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    counts = np.ones(len(y)) if counts is None else np.asarray(counts, dtype=float)
    model = LogisticRegression(C=PRIOR_C, solver="newton-cholesky", max_iter=100, tol=1e-8)
    model.fit(X, y, sample_weight=counts)
    coef, intercept = _symmetric(model, classes)
    probs = _softmax(X @ coef.T + intercept)
    binary = classes == 2
    q = X.shape[1] + 1
    H = _hessian(X, probs, counts, binary)
    prior = np.tile(
        np.r_[np.full(q - 1, 1.0 / PRIOR_C), 1.0 / INTERCEPT_PRIOR_VAR], 1 if binary else classes
    )
    H[np.diag_indices_from(H)] += prior
    cho = linalg.cho_factor(H, lower=True)
    # Posterior covariance = H⁻¹; its Cholesky factor is what draws need.
    cov = linalg.cho_solve(cho, np.eye(H.shape[0]))
    chol_small = linalg.cholesky(cov, lower=True)
    params = (
        np.r_[coef[1], intercept[1]]
        if binary
        else np.concatenate([coef, intercept[:, None]], 1).ravel()
    )
    loglik = float((counts * np.log(probs[np.arange(len(y)), y])).sum())
    log_det_h = 2.0 * float(np.log(np.diag(cho[0])).sum())
    log_det_prior = float(np.log(prior).sum())
    evidence = (
        loglik - 0.5 * float(params @ (prior * params)) + 0.5 * log_det_prior - 0.5 * log_det_h
    )
    if binary:
        # Draws are taken over the stacked (K × q) layout; class 0 is fixed at zero.
        chol = np.zeros((2 * q, 2 * q))
        chol[q:, q:] = chol_small
    else:
        chol = chol_small
    return Fit(
        coef=coef,
        intercept=intercept,
        chol=chol,
        log_evidence=evidence,
        n=round(float(counts.sum())),
        seconds=time.perf_counter() - started,
        iterations=int(np.max(model.n_iter_)),
    )
