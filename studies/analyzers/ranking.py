"""Ranking results (k options put in order): mean rank, first-choice share and Borda score per
option."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studies.analyzers import stats
from studies.analyzers.item_type import ItemTypeAnalysis, MeanMeasure, Measure, ShareMeasure

METHOD = (
    "Per option: mean rank (1 = first) among the personas who ranked it, with a 95% t interval; "
    "first-choice share with a 95% Wilson score interval; Borda score k − rank averaged over all "
    "personas (an option left unranked scores 0), with a 95% percentile bootstrap interval "
    f"({stats.N_RESAMPLES} resamples, scipy.stats.bootstrap, seeded from the run's seed); answers "
    "are unweighted. Conditions: each option's mean rank (Welch's t) and first-choice share "
    f"(difference with a {stats.NEWCOMBE} interval, chi-square or Fisher exact test); groups: "
    "first choices by category (chi-square or Fisher exact)."
)


def rank_lists(answers: pd.DataFrame) -> list[list[str]]:
    return [list(c) if isinstance(c, list) else [] for c in answers["choices"]]


class Ranking(ItemTypeAnalysis):
    method = METHOD

    def _ranks(self, answers: pd.DataFrame, code: str) -> np.ndarray:
        """Each answer's rank of the option (1 = first), NaN where it was left unranked."""
        return np.array(
            [r.index(code) + 1 if code in r else np.nan for r in rank_lists(answers)], dtype=float
        )

    def _ranked(self, code: str):
        def ranks(answers: pd.DataFrame) -> np.ndarray:
            values = self._ranks(answers, code)
            return values[~np.isnan(values)]

        return ranks

    def _first(self, code: str):
        return lambda answers: np.array([r[:1] == [code] for r in rank_lists(answers)], dtype=bool)

    def summarize(self, answers: pd.DataFrame, *, with_samples: bool = True) -> tuple[list, dict]:
        k = len(self.options)
        n = len(answers)
        rows = []
        for option in self.options:
            ranks = self._ranks(answers, option.code)
            ranked = ranks[~np.isnan(ranks)]
            mean = stats.mean_interval(ranked)
            first = self._first(option.code)(answers)
            first_share = float(first.mean()) if n else 0.0
            first_low, first_high = stats.wilson(first_share, n)
            borda = np.where(np.isnan(ranks), 0.0, k - ranks)
            borda_low, borda_high = stats.bootstrap_interval(borda, np.mean, seed=self.seed)
            rows.append(
                {
                    "code": option.code,
                    "label": option.label,
                    "ranked": int(ranked.size),
                    "mean_rank": mean["mean"],
                    "mean_rank_ci_low": mean["ci_low"],
                    "mean_rank_ci_high": mean["ci_high"],
                    "first_count": int(first.sum()),
                    "first_share": first_share,
                    "first_ci_low": first_low,
                    "first_ci_high": first_high,
                    "borda": float(borda.mean()) if n else None,
                    "borda_ci_low": borda_low,
                    "borda_ci_high": borda_high,
                }
            )
        return rows, {"k": k}

    def measures(self) -> list[Measure]:
        return [
            *(MeanMeasure("mean_rank", o.code, self._ranked(o.code)) for o in self.options),
            *(
                ShareMeasure("first_choice_share", o.code, self._first(o.code))
                for o in self.options
            ),
        ]

    def group_tests(self, groups: list[pd.DataFrame]) -> list[dict]:
        table = np.array([[self._first(o.code)(g).sum() for o in self.options] for g in groups])
        return [dict(stats.contingency_test(table, seed=self.seed))]
