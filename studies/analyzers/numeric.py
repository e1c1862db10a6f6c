"""Numeric results (willingness to pay, hours a week): mean with a t interval, median with a seeded
bootstrap interval, quantiles and range."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studies.analyzers import stats
from studies.analyzers.item_type import ItemTypeAnalysis, MeanMeasure, Measure

QUANTILES = (10, 25, 50, 75, 90)
METHOD = (
    "n, mean with a 95% t interval (scipy.stats.t), sd (n − 1), median with a 95% percentile "
    f"bootstrap interval ({stats.N_RESAMPLES} resamples, scipy.stats.bootstrap, seeded from the "
    "run's seed), quantiles 10/25/50/75/90 (numpy.quantile, linear), min and max; answers are "
    "unweighted. Conditions: difference of means with Welch's t interval and test; groups: "
    "Kruskal-Wallis."
)


def numbers(answers: pd.DataFrame) -> np.ndarray:
    values = answers["number"].to_numpy(dtype=float)
    return values[~np.isnan(values)]


class Numeric(ItemTypeAnalysis):
    method = METHOD

    def summarize(self, answers: pd.DataFrame, *, with_samples: bool = True) -> tuple[list, dict]:
        values = numbers(answers)
        summary: dict = {
            "n": int(values.size),
            "unit": self.item.unit,
            "min_value": self.item.min_value,
            "max_value": self.item.max_value,
        }
        if not values.size:
            return [], summary
        mean = stats.mean_interval(values)
        low, high = stats.bootstrap_interval(values, np.median, seed=self.seed)
        return [], summary | {
            "mean": mean["mean"],
            "mean_ci_low": mean["ci_low"],
            "mean_ci_high": mean["ci_high"],
            "sd": mean["sd"],
            "median": float(np.median(values)),
            "median_ci_low": low,
            "median_ci_high": high,
            "quantiles": {str(q): float(np.quantile(values, q / 100)) for q in QUANTILES},
            "min": float(values.min()),
            "max": float(values.max()),
        }

    def measures(self) -> list[Measure]:
        return [MeanMeasure("mean", None, numbers)]

    def group_tests(self, groups: list[pd.DataFrame]) -> list[dict]:
        return [dict(stats.kruskal_test([numbers(g) for g in groups]))]
