"""Likert / rating-scale results: the distribution over the scale's points, the mean point with a
t interval, and the top-2-box and bottom-2-box shares with Wilson intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studies.analyzers import stats
from studies.analyzers.item_type import ItemTypeAnalysis, MeanMeasure, Measure, ShareMeasure
from studies.analyzers.single_choice import option_rows, option_share_measures

METHOD = (
    "Distribution: share of personas at each point, with a 95% Wilson score interval. Mean point "
    "(ItemOption.value; an option without one counts as its position 1..n) with a 95% t interval "
    "(scipy.stats.t). Top-2-box and bottom-2-box: share at the two highest and the two lowest "
    "points, with Wilson intervals. Weighted answers give weighted shares and a weighted mean, "
    "with intervals on Kish's effective sample size. Conditions: each point's share, the top-2 "
    f"share (difference with a {stats.NEWCOMBE} interval, chi-square or Fisher exact test) and the "
    "mean (difference with Welch's t interval and test, unweighted); groups: Kruskal-Wallis on "
    "the unweighted points."
)


class Likert(ItemTypeAnalysis):
    method = METHOD

    def _points(self) -> dict[int, float]:
        return {
            o.id: float(o.value) if o.value is not None else float(position)
            for position, o in enumerate(self.options, start=1)
        }

    def _values(self, answers: pd.DataFrame) -> np.ndarray:
        return answers["option_id"].map(self._points()).to_numpy(dtype=float)

    def _box(self, top: bool) -> set[int]:
        points = self._points()
        ordered = sorted(points, key=lambda option_id: points[option_id], reverse=top)
        return set(ordered[:2])

    def _in_box(self, top: bool):
        box = self._box(top)
        return lambda answers: answers["option_id"].isin(box).to_numpy()

    def summarize(self, answers: pd.DataFrame, *, with_samples: bool = True) -> tuple[list, dict]:
        answers = answers[answers["option_id"].notna()]
        weights = answers["weight"].to_numpy(dtype=float)
        n_eff = stats.kish_n_eff(weights)
        mean = stats.mean_interval(self._values(answers), weights)
        summary: dict = {
            "n_effective": n_eff,
            "mean": mean["mean"],
            "mean_ci_low": mean["ci_low"],
            "mean_ci_high": mean["ci_high"],
            "sd": mean["sd"],
        }
        for name, top in (("top2", True), ("bottom2", False)):
            share = stats.weighted_share(self._in_box(top)(answers), weights) if n_eff else 0.0
            low, high = stats.wilson(share, n_eff) if n_eff else (None, None)
            summary |= {f"{name}_share": share, f"{name}_ci_low": low, f"{name}_ci_high": high}
        return option_rows(answers, self.options), summary

    def measures(self) -> list[Measure]:
        return [
            *option_share_measures(self.options),
            ShareMeasure("top2_share", None, self._in_box(top=True), weighted=True),
            MeanMeasure("mean", None, self._values),
        ]

    def group_tests(self, groups: list[pd.DataFrame]) -> list[dict]:
        return [dict(stats.kruskal_test([self._values(g) for g in groups]))]
