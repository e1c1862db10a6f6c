"""Multiple-selection results: the share of personas choosing each option (any number of them)
and the mean number of options chosen."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studies.analyzers import stats
from studies.analyzers.item_type import ItemTypeAnalysis, MeanMeasure, Measure, ShareMeasure

METHOD = (
    "Per option: share of personas choosing it (they may choose several, so shares need not sum "
    "to 1), with a 95% Wilson score interval; weighted answers give weighted shares on Kish's "
    "effective sample size. Mean number of options chosen with a 95% t interval. Conditions: "
    f"each option's share (difference with a {stats.NEWCOMBE} interval, chi-square or Fisher "
    "exact test) and the mean number chosen (Welch's t); groups: one test of each option's share "
    "across the categories (chi-square or Fisher exact)."
)


def chosen_sets(answers: pd.DataFrame) -> list[set[str]]:
    return [set(c) if isinstance(c, list) else set() for c in answers["choices"]]


class MultipleChoice(ItemTypeAnalysis):
    method = METHOD

    def _chose(self, code: str):
        return lambda answers: np.array([code in s for s in chosen_sets(answers)], dtype=bool)

    def _count(self, answers: pd.DataFrame) -> np.ndarray:
        codes = {o.code for o in self.options}
        return np.array([len(s & codes) for s in chosen_sets(answers)], dtype=float)

    def summarize(self, answers: pd.DataFrame, *, with_samples: bool = True) -> tuple[list, dict]:
        weights = answers["weight"].to_numpy(dtype=float)
        n_eff = stats.kish_n_eff(weights)
        rows = []
        for option in self.options:
            chose = self._chose(option.code)(answers)
            share = stats.weighted_share(chose, weights)
            low, high = stats.wilson(share, n_eff)
            rows.append(
                {
                    "code": option.code,
                    "label": option.label,
                    "count": int(chose.sum()),
                    "share": share,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
        mean = stats.mean_interval(self._count(answers), weights)
        return rows, {
            "n_effective": n_eff,
            "mean_chosen": mean["mean"],
            "mean_chosen_ci_low": mean["ci_low"],
            "mean_chosen_ci_high": mean["ci_high"],
            "sd_chosen": mean["sd"],
        }

    def measures(self) -> list[Measure]:
        return [
            *(
                ShareMeasure("share", o.code, self._chose(o.code), weighted=True)
                for o in self.options
            ),
            MeanMeasure("mean_chosen", None, self._count),
        ]

    def group_tests(self, groups: list[pd.DataFrame]) -> list[dict]:
        tests = []
        for option in self.options:
            chose = [self._chose(option.code)(g) for g in groups]
            table = np.array([[c.sum(), len(c) - c.sum()] for c in chose])
            tests.append({"option": option.code, **stats.contingency_test(table, seed=self.seed)})
        return tests
