"""Feature preferences: how much each of a product's features matters to the personas, from one
ranking item (every feature put in order) or one importance-rating item per feature, as
importance shares with intervals, their order, a test that they differ, and the same within each
area, demographic group and market segment.

Pure functions of a points matrix (personas × features) and a per-persona frame, so a test can
recompute each figure by hand or directly with scipy on the same numbers. `MarketAnalyzer`
(`studies.analyzers.market`) builds the matrix from a market study's answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import pandas as pd
from scipy import stats as sps

from studies.analyzers import stats

RANKING, RATING = "ranking", "rating"
FORMATS: Final = (RANKING, RATING)
#: The study item asking the ranking, and the prefix of each rating item's code.
RANKING_ITEM: Final = "feature_ranking"
RATING_ITEM_PREFIX: Final = "importance_"
#: The importance scale of a rating item: (code, label, points).
RATING_OPTIONS: Final = (
    ("not_important", "Not at all important", 1.0),
    ("slightly", "Slightly important", 2.0),
    ("moderately", "Moderately important", 3.0),
    ("very", "Very important", 4.0),
    ("extremely", "Extremely important", 5.0),
)
FRIEDMAN: Final = "Friedman chi-square over personas (scipy.stats.friedmanchisquare)"
WILCOXON: Final = "Wilcoxon signed-rank, paired by persona (scipy.stats.wilcoxon)"

METHOD: Final = (
    "Each persona's importance points per feature: from a ranking of the k features, k − rank "
    "(the first gets k − 1, the last 0: Borda points); from ratings, the rating on the 1–5 "
    "importance scale. A persona's importance share of a feature is its points divided by the sum "
    "of its points over the features (so a persona's shares add up to 1; a persona whose points "
    "add up to 0, or who rated only some features, is left out). A feature's importance share is the mean of the personas' shares, "
    "with a seeded 95% percentile bootstrap interval resampling personas (scipy.stats.bootstrap, "
    f"{stats.N_RESAMPLES} resamples, all features from the same resamples); the ranking orders "
    f"features by that mean. Whether the features differ at all: {FRIEDMAN} for three or more "
    f"features, {WILCOXON} for two. Whether each feature is more important than the next in the "
    f"ranking: {WILCOXON}, Holm-corrected across the adjacent pairs. By segment (area, each "
    "demographic dimension, each market segment): the same shares within each category, and per "
    "feature a Kruskal-Wallis test (scipy.stats.kruskal) of the personas' shares across the "
    "categories, Holm-corrected across the features of the dimension. Answers are unweighted."
)


def ranking_points(rankings: Sequence[Sequence[str]], codes: Sequence[str]) -> np.ndarray:
    """Borda points (k − rank, rank 1 = first) of each feature in each persona's ranking; a feature
    left unranked gets 0."""
    k = len(codes)
    points = np.zeros((len(rankings), k))
    for i, ranking in enumerate(rankings):
        for j, code in enumerate(codes):
            if code in ranking:
                points[i, j] = k - (list(ranking).index(code) + 1)
    return points


def importance_shares(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each persona's points over their sum, and which rows (personas) were kept: those with
    points for every feature (NaN: a rating not given) adding up to more than 0."""
    points = np.asarray(points, dtype=float)
    totals = points.sum(axis=1)
    kept = np.isfinite(totals) & (totals > 0)
    return points[kept] / totals[kept, None], kept


def _mean_rows(sample: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(sample, axis=axis)


def share_intervals(shares: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded 95% percentile bootstrap interval of each column's mean, resampling rows (personas)
    with all columns drawn together; NaN where fewer than two rows."""
    shares = np.asarray(shares, dtype=float)
    n, k = shares.shape
    if n < 2:
        return np.full(k, np.nan), np.full(k, np.nan)
    if np.all(shares == shares[0]):
        return shares[0].copy(), shares[0].copy()
    result = sps.bootstrap(
        (shares,),
        _mean_rows,
        axis=0,
        n_resamples=stats.N_RESAMPLES,
        batch=stats.bootstrap_batch(n * k),
        vectorized=True,
        confidence_level=stats.CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low = np.asarray(result.confidence_interval.low, dtype=float)
    high = np.asarray(result.confidence_interval.high, dtype=float)
    # A column that never varies gets NaN from scipy: its interval is the point itself.
    constant = np.all(shares == shares[0], axis=0)
    low[constant] = high[constant] = shares[0][constant]
    return low, high


def _nan_none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def share_rows(
    shares: np.ndarray, codes: Sequence[str], labels: Mapping[str, str], *, seed: int
) -> list[dict]:
    """Per feature, most important first: mean share, its interval and its rank (1 = first)."""
    means = shares.mean(axis=0) if len(shares) else np.full(len(codes), np.nan)
    low, high = share_intervals(shares, seed=seed)
    order = sorted(range(len(codes)), key=lambda j: (-np.nan_to_num(means[j], nan=-1), j))
    return [
        {
            "rank": position,
            "code": codes[j],
            "label": labels.get(codes[j], codes[j]),
            "share": _nan_none(means[j]),
            "ci_low": _nan_none(low[j]),
            "ci_high": _nan_none(high[j]),
        }
        for position, j in enumerate(order, start=1)
    ]


def difference_test(shares: np.ndarray) -> stats.TestResult:
    """Whether the features differ in importance: Friedman over personas (k ≥ 3), Wilcoxon
    signed-rank (k = 2)."""
    n, k = shares.shape
    if n < 2:
        return stats.untestable("fewer than two personas: nothing to test")
    if np.all(shares == shares[:, :1]):
        return stats.untestable("every persona gave every feature the same importance")
    if k == 2:
        result = sps.wilcoxon(shares[:, 0], shares[:, 1])
        return {
            "test": WILCOXON,
            "statistic": float(result.statistic),
            "df": None,
            "p": float(result.pvalue),
            "note": "",
        }
    result = sps.friedmanchisquare(*shares.T)
    return {
        "test": FRIEDMAN,
        "statistic": float(result.statistic),
        "df": float(k - 1),
        "p": float(result.pvalue),
        "note": "",
    }


def adjacent_tests(shares: np.ndarray, rows: list[dict], codes: Sequence[str]) -> list[dict]:
    """Each feature against the next in the ranking: mean difference of shares and a Wilcoxon
    signed-rank test paired by persona, Holm-corrected across the pairs."""
    index = {code: j for j, code in enumerate(codes)}
    tests = []
    for above, below in itertools.pairwise(rows):
        a, b = shares[:, index[above["code"]]], shares[:, index[below["code"]]]
        row: dict = {"feature": above["code"], "next": below["code"], "test": WILCOXON, "df": None}
        row["difference"] = float(np.mean(a - b)) if len(a) else None
        if len(a) < 2 or np.all(a == b):
            row |= {"statistic": None, "p": None, "note": "no persona ranks them differently"}
        else:
            result = sps.wilcoxon(a, b)
            row |= {"statistic": float(result.statistic), "p": float(result.pvalue), "note": ""}
        tests.append(row)
    return stats.holm(tests)


def summary(
    shares: np.ndarray, codes: Sequence[str], labels: Mapping[str, str], *, seed: int
) -> dict:
    """The shares with intervals in ranking order and the difference test, for one set of
    personas."""
    rows = share_rows(shares, codes, labels, seed=seed)
    return {
        "n": len(shares),
        "ranking": rows,
        "top": rows[0]["code"] if rows and rows[0]["share"] is not None else None,
        "difference_test": difference_test(shares) if len(shares) else None,
    }


def by_segment(
    frame: pd.DataFrame,
    shares: np.ndarray,
    column: str,
    codes: Sequence[str],
    labels: Mapping[str, str],
    category_labels: Mapping,
    *,
    seed: int,
) -> dict:
    """The shares within each category of `column` (a column of `frame`, row-aligned with
    `shares`), and per feature a Kruskal-Wallis test across the categories (Holm across
    features)."""
    values = frame[column].to_numpy()
    present = [c for c in category_labels if c in set(values)]
    present += sorted({v for v in values if pd.notna(v) and v not in category_labels}, key=str)
    groups = []
    for i, category in enumerate(present):
        within = shares[values == category]
        groups.append(
            {"category": category, "label": category_labels.get(category, str(category))}
            | summary(within, codes, labels, seed=seed + i + 1)
        )
    tests = []
    for j, code in enumerate(codes):
        samples = [shares[values == c, j] for c in present]
        tests.append({"feature": code} | dict(stats.kruskal_test(samples)))
    return {"groups": groups, "tests": stats.holm(tests)}


def feature_results(
    frame: pd.DataFrame,
    points: np.ndarray,
    *,
    codes: Sequence[str],
    labels: Mapping[str, str],
    format: str,
    segments: Mapping[str, Mapping],
    seed: int,
) -> dict:
    """Every feature figure. `frame` has one row per persona aligned with `points`, with a column
    for each key of `segments` (area, the demographic dimensions, market segment), whose value
    maps a category to its label."""
    shares, kept = importance_shares(points)
    kept_frame = frame.loc[kept].reset_index(drop=True)
    overall = summary(shares, codes, labels, seed=seed)
    return {
        "method": METHOD,
        "format": format,
        "features": [{"code": c, "label": labels.get(c, c)} for c in codes],
        "personas_left_out": int((~kept).sum()),
        **overall,
        "adjacent_differences": adjacent_tests(shares, overall["ranking"], codes),
        "by_segment": {
            column: by_segment(
                kept_frame, shares, column, codes, labels, category_labels, seed=seed
            )
            for column, category_labels in segments.items()
            if column in kept_frame
        },
    }
