"""Market segmentation: groups of personas found from their answers (purchase intent, feature
importance) and attributes (age, income, education, sex, race and ethnicity) by k-means, with k
chosen by the mean silhouette, and each segment's size, profile and purchase intent.

Pure functions of a per-persona frame and a seed, so the same seed gives the same segments and a
test can recompute the fit directly with scipy/numpy. `MarketAnalyzer`
(`studies.analyzers.market`) builds the frame from a market study's answers.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2
from scipy.spatial.distance import pdist, squareform

from environment.categories import DIMENSIONS
from studies.analyzers import stats

K_MIN, K_MAX = 2, 6
#: k is tried only while there are at least this many personas per segment on average.
MIN_PER_SEGMENT: Final = 5
#: k-means restarts (k-means++ starts from one seeded generator); the lowest within-segment sum
#: of squares is kept.
N_INIT: Final = 10
#: Distinctive attributes listed per segment.
TOP_TRAITS: Final = 3
ORDINAL: Final = ("income", "education")
CATEGORICAL: Final = ("sex", "race_ethnicity")

METHOD: Final = (
    "Each persona is described by its answers — purchase intent on the five-point scale (5 = "
    "definitely would buy) centred within its price condition, so segments are not the price "
    "arms, and its importance share of each feature when features were asked — and its attributes: "
    "age in years, income and education as ordinal positions (0 = lowest category), sex and race "
    "and ethnicity as 0/1 indicators. Every column is standardised (z-score; a column with no "
    "variation is dropped). Segments are found by k-means (scipy.cluster.vq.kmeans2, k-means++ "
    f"starts, {N_INIT} restarts drawn from one generator seeded with the run's seed, the lowest "
    f"within-segment sum of squares kept) for each k from {K_MIN} to {K_MAX} with at least "
    f"{MIN_PER_SEGMENT} personas per segment on average; k is the one with the highest mean "
    "silhouette (Euclidean, computed with scipy.spatial.distance; a persona alone in its segment "
    "scores 0), unless the request fixed it. Fit: the mean silhouette and the within-segment sum "
    "of squares of every k tried. A segment's profile: its mean age, and per dimension its most "
    "common category with its share in the segment and in all personas; its distinctive traits "
    "are the categories most over-represented in it (share in the segment − share overall). "
    "Purchase intent per segment is the top-two-box share with a 95% Wilson interval; whether it "
    "differs between segments is tested on the segment × intent table (Pearson chi-square, Fisher "
    "exact below an expected count of 5). Segments describe simulated personas, and k-means finds "
    "groups even where the data has none: `structure` reads the silhouette as Kaufman and "
    "Rousseeuw do (above 0.7 strong, 0.5–0.7 reasonable, 0.25–0.5 weak, below 0.25 no "
    "substantial structure)."
)
#: Kaufman & Rousseeuw's reading of a mean silhouette (Finding Groups in Data, 1990).
STRUCTURE: Final = (
    (0.25, "no substantial structure"),
    (0.5, "weak"),
    (0.7, "reasonable"),
    (1.01, "strong"),
)


def structure(silhouette: float) -> str:
    """How clear the segments are, by the mean silhouette (STRUCTURE)."""
    return next(label for bound, label in STRUCTURE if silhouette <= bound)


def design_matrix(frame: pd.DataFrame, answer_columns: Sequence[str]) -> tuple[np.ndarray, list]:
    """The standardised persona × column matrix (see METHOD) and its column names."""
    columns: dict[str, np.ndarray] = {}
    for name in answer_columns:
        columns[name] = frame[name].to_numpy(dtype=float)
    columns["age"] = frame["age"].to_numpy(dtype=float)
    for dimension in ORDINAL:
        position = {code: i for i, code in enumerate(DIMENSIONS[dimension])}
        columns[dimension] = frame[dimension].map(position).to_numpy(dtype=float)
    for dimension in CATEGORICAL:
        for code in DIMENSIONS[dimension]:
            columns[f"{dimension}={code}"] = (frame[dimension] == code).to_numpy(dtype=float)
    names, matrix = [], []
    for name, values in columns.items():
        sd = values.std()
        if np.isfinite(sd) and sd > 0:
            names.append(name)
            matrix.append((values - values.mean()) / sd)
    return (np.column_stack(matrix) if matrix else np.zeros((len(frame), 0))), names


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """The mean silhouette of a partition (Euclidean; a persona alone in its segment scores 0)."""
    distances = squareform(pdist(x))
    segments = np.unique(labels)
    sizes = np.array([(labels == s).sum() for s in segments])
    # Mean distance from each persona to each segment's members (itself excluded from its own).
    sums = np.column_stack([distances[:, labels == s].sum(axis=1) for s in segments])
    own = np.searchsorted(segments, labels)
    rows = np.arange(len(x))
    counts = np.broadcast_to(sizes, sums.shape).astype(float).copy()
    counts[rows, own] -= 1
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    a = means[rows, own]
    means[rows, own] = np.inf
    b = means.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(np.maximum(a, b) > 0, (b - a) / np.maximum(a, b), 0.0)
    scores[counts[rows, own] == 0] = 0.0  # alone in its segment
    return float(scores.mean())


def kmeans(x: np.ndarray, k: int, *, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The best of N_INIT k-means++ runs (lowest within-segment sum of squares) whose k segments
    are all non-empty: its labels and that sum."""
    best: tuple[np.ndarray, float] | None = None
    for _ in range(N_INIT):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty cluster: that run is skipped below
            centroids, labels = kmeans2(x, k, iter=50, minit="++", rng=rng)
        if np.bincount(labels, minlength=k).min() == 0:
            continue
        inertia = float(((x - centroids[labels]) ** 2).sum())
        if best is None or inertia < best[1]:
            best = (labels, inertia)
    if best is None:
        raise ValueError(f"k-means found no partition into {k} non-empty segments")
    return best


def k_range(n: int) -> list[int]:
    """The k tried for n personas."""
    return [k for k in range(K_MIN, K_MAX + 1) if n >= MIN_PER_SEGMENT * k]


def fit(x: np.ndarray, *, seed: int, k: int | None = None) -> dict:
    """k-means for each k tried (or only the fixed k), with its silhouette and sum of squares; the
    chosen k and its labels, renumbered so segment 1 is the largest."""
    rng = np.random.default_rng(seed)
    tried = [k] if k is not None else k_range(len(x))
    rows: list[dict] = []
    partitions: dict[int, np.ndarray] = {}
    for candidate in tried:
        try:
            labels, inertia = kmeans(x, candidate, rng=rng)
        except ValueError:  # many identical personas: no k non-empty segments; try the next k
            continue
        partitions[candidate] = labels
        rows.append(
            {
                "k": candidate,
                "silhouette": silhouette(x, labels),
                "within_sum_of_squares": inertia,
            }
        )
    if not rows:
        raise ValueError("k-means found no partition into non-empty segments for any k tried")
    chosen = int(max(rows, key=lambda r: (r["silhouette"], -r["k"]))["k"])
    labels = partitions[chosen]
    sizes = np.bincount(labels, minlength=chosen)
    # Largest first, ties by first appearance, so the numbering does not depend on kmeans2's.
    order = sorted(range(chosen), key=lambda s: (-sizes[s], int(np.argmax(labels == s))))
    renumber = np.empty(chosen, dtype=int)
    renumber[order] = np.arange(1, chosen + 1)
    return {"k": chosen, "fixed": k is not None, "fit": rows, "labels": renumber[labels]}


def _intent(frame: pd.DataFrame) -> dict:
    n, buyers = len(frame), int(frame["intent"].sum())
    low, high = stats.wilson(buyers / n, n) if n else (None, None)
    share = buyers / n if n else None
    return {"n": n, "buyers": buyers, "share": share, "ci_low": low, "ci_high": high}


def profile(segment: pd.DataFrame, everyone: pd.DataFrame) -> dict:
    """Mean age, each dimension's most common category (share here and overall) and the
    categories most over-represented in the segment."""
    dimensions: dict[str, dict] = {}
    traits: list[dict] = []
    for dimension, labels in DIMENSIONS.items():
        here = segment[dimension].value_counts(normalize=True)
        overall = everyone[dimension].value_counts(normalize=True)
        modal = str(here.index[0])
        dimensions[dimension] = {
            "category": modal,
            "label": labels.get(modal, modal),
            "share": float(here.iloc[0]),
            "share_overall": float(overall.get(modal, 0.0)),
        }
        for category, share in here.items():
            traits.append(
                {
                    "dimension": dimension,
                    "category": str(category),
                    "label": labels.get(str(category), str(category)),
                    "share": float(share),
                    "share_overall": float(overall.get(category, 0.0)),
                    "over_representation": float(share - overall.get(category, 0.0)),
                }
            )
    traits.sort(key=lambda t: -t["over_representation"])
    return {
        "mean_age": float(segment["age"].mean()),
        "dominant": dimensions,
        "distinctive": [t for t in traits if t["over_representation"] > 0][:TOP_TRAITS],
    }


def segmentation(
    frame: pd.DataFrame,
    *,
    answer_columns: Sequence[str],
    feature_columns: Mapping[str, str] | None = None,
    seed: int,
    k: int | None = None,
) -> dict:
    """Segments of the personas in `frame` (columns: age, the demographic dimensions, intent 0/1,
    the answer columns; `feature_columns` maps the answer columns that are feature importance
    shares to their feature's code) with
    their fit, size, profile and purchase intent. Not computed (with the reason) when there are
    too few personas for the k asked or for k = 2."""
    n = len(frame)
    needed = MIN_PER_SEGMENT * (k or K_MIN)
    base = {"method": METHOD, "personas": n}
    if n < needed:
        return base | {
            "k": None,
            "not_computed": f"{n} personas answered; {needed} are needed for "
            f"{k or K_MIN} segments ({MIN_PER_SEGMENT} per segment on average)",
        }
    x, columns = design_matrix(frame, answer_columns)
    if x.shape[1] == 0 or len(np.unique(x, axis=0)) < (k or K_MIN):
        return base | {"k": None, "not_computed": "the personas do not differ enough to segment"}
    try:
        result = fit(x, seed=seed, k=k)
    except ValueError as exc:
        return base | {"k": None, "not_computed": str(exc)}
    labels = result.pop("labels")
    chosen = frame.assign(segment=labels)
    features = dict(feature_columns or {})
    segments = []
    for number in range(1, result["k"] + 1):
        members = chosen[chosen["segment"] == number]
        row: dict = {
            "segment": number,
            "size": len(members),
            "share": len(members) / n,
            "profile": profile(members, frame),
            "purchase_intent": _intent(members),
        }
        if features:
            means = {code: float(members[column].mean()) for column, code in features.items()}
            row["feature_importance"] = means
            row["top_feature"] = max(means, key=lambda code: means[code])
        segments.append(row)
    table = pd.crosstab(chosen["segment"], chosen["intent"]).to_numpy()
    silhouette_of_k = {r["k"]: r["silhouette"] for r in result["fit"]}[result["k"]]
    return base | {
        "k": result["k"],
        "k_fixed": result["fixed"],
        "criterion": "highest mean silhouette" if not result["fixed"] else "fixed by the request",
        "silhouette": silhouette_of_k,
        "structure": structure(silhouette_of_k),
        "fit": result["fit"],
        "columns": columns,
        "segments": segments,
        "intent_difference": dict(stats.contingency_test(table, seed=seed)),
        "labels": labels.tolist(),
    }
