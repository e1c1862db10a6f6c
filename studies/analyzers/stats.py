"""The statistics the item analyzers share: intervals for shares and means, seeded bootstrap
intervals, tests of contingency tables and of means, and the Holm correction. Pure functions of
arrays, so each can be checked against scipy/statsmodels directly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import numpy as np
from scipy import stats
from scipy.stats.contingency import expected_freq
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
#: Resamples of every bootstrap interval and Monte Carlo exact test; a batch keeps a resampled
#: array of a large run within a few tens of megabytes.
N_RESAMPLES = 2000
BOOTSTRAP_CELLS = 2_000_000
#: Below this expected count in any cell of a table, the chi-square approximation is rough and
#: Fisher's exact test is used instead.
MIN_EXPECTED = 5

CHI_SQUARE = "Pearson chi-square (scipy.stats.chi2_contingency, no continuity correction)"
FISHER_2X2 = "Fisher exact (scipy.stats.fisher_exact)"
FISHER_RXC = (
    f"Fisher exact, Monte Carlo over {N_RESAMPLES} seeded tables "
    "(scipy.stats.fisher_exact with MonteCarloMethod)"
)
WELCH = "Welch's t (scipy.stats.ttest_ind, equal_var=False)"
KRUSKAL = "Kruskal-Wallis H (scipy.stats.kruskal)"
NEWCOMBE = "Newcombe hybrid score (statsmodels confint_proportions_2indep, method='newcomb')"


class Interval(TypedDict):
    estimate: float | None
    ci_low: float | None
    ci_high: float | None


class TestResult(TypedDict):
    test: str | None
    statistic: float | None
    df: float | None
    p: float | None
    note: str


def _float(x: float) -> float | None:
    """A JSON-safe float: NaN and infinities (an undefined statistic) become None."""
    value = _scalar(x)
    return value if np.isfinite(value) else None


def _scalar(x: float | np.ndarray) -> float:
    # scipy's Monte Carlo Fisher test returns some results as one-element arrays.
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def kish_n_eff(weights: np.ndarray) -> float:
    """Kish's effective sample size (Σw)² / Σw²; the count itself when every weight is 1."""
    weights = np.asarray(weights, dtype=float)
    if weights.size == 0:
        return 0.0
    if np.all(weights == 1.0):
        return float(weights.size)
    total = float(weights.sum())
    return total**2 / float((weights**2).sum()) if total > 0 else 0.0


def weighted_share(chosen: np.ndarray, weights: np.ndarray) -> float:
    """The weighted share of answers for which `chosen` holds."""
    total = float(np.sum(weights))
    return float(np.sum(np.asarray(weights, dtype=float)[np.asarray(chosen, bool)])) / total


def wilson(share: float, n_eff: float) -> tuple[float, float]:
    """The 95 % Wilson score interval of a share observed on `n_eff` (effective) answers."""
    low, high = proportion_confint(share * n_eff, n_eff, alpha=ALPHA, method="wilson")
    return float(low), float(high)


def mean_interval(values: np.ndarray, weights: np.ndarray | None = None) -> dict:
    """Mean, sd and the t interval of the mean. With weights: the weighted mean, the weighted sd,
    and the interval on Kish's effective n (standard error sd / √(n_eff − 1), t with n_eff − 1
    degrees of freedom), which is the ordinary t interval when every weight is 1."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "sd": None}
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    mean = float(np.average(values, weights=w))
    n_eff = kish_n_eff(w)
    if n < 2 or n_eff <= 1:
        return {"mean": mean, "ci_low": None, "ci_high": None, "sd": None}
    sd_pop = float(np.sqrt(np.average((values - mean) ** 2, weights=w)))
    se = sd_pop / np.sqrt(n_eff - 1)
    sd = sd_pop * np.sqrt(n_eff / (n_eff - 1))
    if se == 0:
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "sd": sd}
    low, high = stats.t.interval(CONFIDENCE, n_eff - 1, loc=mean, scale=se)
    return {"mean": mean, "ci_low": float(low), "ci_high": float(high), "sd": sd}


def bootstrap_interval(
    values: np.ndarray, statistic: Callable[..., np.ndarray], *, seed: int
) -> tuple[float | None, float | None]:
    """A seeded 95 % percentile bootstrap interval of `statistic` (vectorised over `axis`)."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return None, None
    if np.all(values == values[0]):
        # Every resample is the same: the interval is the point itself.
        point = float(statistic(values, axis=-1))
        return point, point
    result = stats.bootstrap(
        (values,),
        statistic,
        n_resamples=N_RESAMPLES,
        batch=bootstrap_batch(values.size),
        vectorized=True,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return _float(result.confidence_interval.low), _float(result.confidence_interval.high)


def groups_bootstrap(
    samples: Sequence[np.ndarray], statistic: Callable[..., np.ndarray], *, seed: int
) -> Any:
    """scipy's seeded 95 % percentile bootstrap of `statistic` over independent groups (each
    resampled within itself, `paired=False`); the result carries the interval and the resamples'
    distribution."""
    return stats.bootstrap(
        tuple(samples),
        statistic,
        n_resamples=N_RESAMPLES,
        vectorized=True,
        paired=False,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )


def bootstrap_batch(n: int) -> int:
    """Resamples drawn at once for a sample of n (bounds the memory of a large run)."""
    return max(1, min(N_RESAMPLES, BOOTSTRAP_CELLS // max(n, 1)))


def untestable(note: str) -> TestResult:
    return {"test": None, "statistic": None, "df": None, "p": None, "note": note}


def contingency_test(table: np.ndarray, *, seed: int) -> TestResult:
    """Independence of a table's rows and columns: Pearson's chi-square, or Fisher's exact test
    when any expected count is below 5 (exact for 2×2, Monte Carlo for larger tables). Rows and
    columns without any count are dropped first; counts are rounded to whole answers."""
    table = np.rint(np.asarray(table, dtype=float)).astype(int)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return untestable("fewer than two groups or answers with any count: nothing to test")
    if (expected_freq(table) < MIN_EXPECTED).any():
        if table.shape == (2, 2):
            fisher = stats.fisher_exact(table)
            return {
                "test": FISHER_2X2,
                "statistic": _float(fisher.statistic),
                "df": None,
                "p": _scalar(fisher.pvalue),
                "note": "an expected count is below 5",
            }
        fisher = stats.fisher_exact(
            table,
            method=stats.MonteCarloMethod(n_resamples=N_RESAMPLES, rng=np.random.default_rng(seed)),
        )
        return {
            "test": FISHER_RXC,
            "statistic": _float(fisher.statistic),
            "df": None,
            "p": _scalar(fisher.pvalue),
            "note": "an expected count is below 5",
        }
    chi2 = stats.chi2_contingency(table, correction=False)
    return {
        "test": CHI_SQUARE,
        "statistic": float(chi2.statistic),
        "df": float(chi2.dof),
        "p": float(chi2.pvalue),
        "note": "",
    }


def kruskal_test(groups: Sequence[np.ndarray]) -> TestResult:
    """Kruskal-Wallis H across the groups with answers (a rank test: fits ordinal scales and
    skewed numbers)."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if len(groups) < 2:
        return untestable("fewer than two groups with answers: nothing to test")
    if len(np.unique(np.concatenate(groups))) < 2:
        return untestable("every answer is the same: nothing to test")
    result = stats.kruskal(*groups)
    return {
        "test": KRUSKAL,
        "statistic": float(result.statistic),
        "df": float(len(groups) - 1),
        "p": float(result.pvalue),
        "note": "",
    }


def share_difference(
    successes: float, n: float, control_successes: float, control_n: float
) -> Interval:
    """The difference of two shares (condition − control) with its Newcombe interval."""
    share, control = successes / n, control_successes / control_n
    low, high = confint_proportions_2indep(
        successes, n, control_successes, control_n, method="newcomb", compare="diff", alpha=ALPHA
    )
    return {"estimate": share - control, "ci_low": _float(low), "ci_high": _float(high)}


def welch(values: np.ndarray, control: np.ndarray) -> tuple[Interval, TestResult]:
    """The difference of two means (condition − control) with Welch's t interval and test."""
    values, control = np.asarray(values, dtype=float), np.asarray(control, dtype=float)
    difference = float(values.mean() - control.mean())
    if values.size < 2 or control.size < 2:
        return (
            {"estimate": difference, "ci_low": None, "ci_high": None},
            untestable("fewer than two answers in a condition: no variance to test with"),
        )
    if values.var() == 0 and control.var() == 0:
        return (
            {"estimate": difference, "ci_low": difference, "ci_high": difference},
            untestable("no variation within either condition: Welch's t is undefined"),
        )
    result = stats.ttest_ind(values, control, equal_var=False)
    interval = result.confidence_interval(confidence_level=CONFIDENCE)
    return (
        {"estimate": difference, "ci_low": _float(interval.low), "ci_high": _float(interval.high)},
        {
            "test": WELCH,
            "statistic": _float(result.statistic),
            "df": _float(result.df),
            "p": _float(result.pvalue),
            "note": "",
        },
    )


def holm_adjusted(pvalues: list[float]) -> np.ndarray:
    """Holm-adjusted p-values: sorted ascending, the i-th (from 0) of m times m - i, each at least
    the one before it, at most 1, back in the given order. This is statsmodels'
    `multipletests(method="holm")` step for step, and a test holds the two equal; it is written
    out because `multipletests` ends its Holm branch with `gc.collect()`, a full collection of
    every object the process holds, once per adjusted table: 4 % of an LLM run's CPU went to it
    in a process whose loaded objects are frozen (`config.collector`), where freezing the rest
    around the call is not possible (unfreezing would thaw the process's own frozen objects)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="mergesort")
    stepped = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    adjusted = np.empty_like(stepped)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def holm(rows: list[dict]) -> list[dict]:
    """Adds `p_adjusted` (Holm, across the rows with a p) and `significant` (adjusted p < 0.05)
    to each row; a row without a p gets neither a p_adjusted nor significance."""
    tested = [i for i, row in enumerate(rows) if row.get("p") is not None]
    adjusted: Sequence[float] = (
        holm_adjusted([rows[i]["p"] for i in tested]).tolist() if tested else []
    )
    for row in rows:
        row["p_adjusted"], row["significant"] = None, False
    for i, p in zip(tested, adjusted, strict=True):
        rows[i]["p_adjusted"] = float(p)
        rows[i]["significant"] = bool(p < ALPHA)
    return rows
