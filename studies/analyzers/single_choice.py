"""Single-choice results: the share of personas choosing each option, with 95 % Wilson intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studies.analyzers import stats
from studies.analyzers.item_type import (
    DistributionMeasure,
    ItemTypeAnalysis,
    Measure,
    ShareMeasure,
)
from studies.models import ItemOption

METHOD = (
    "Share of personas choosing each option, with a 95% Wilson score interval per option "
    "(statsmodels.stats.proportion.proportion_confint, method='wilson'); weighted answers give "
    "weighted shares, with the interval on Kish's effective sample size (Σw)²/Σw². Conditions: "
    f"each option's share against the first condition's, difference with a {stats.NEWCOMBE} "
    "interval and a chi-square (Fisher exact below an expected count of 5) test on effective "
    "counts, and the distribution over options; groups: chi-square or Fisher exact of options by "
    "category, on unweighted counts."
)


def option_rows(answers: pd.DataFrame, options: list[ItemOption]) -> list[dict]:
    """Each option's count and share with its Wilson interval. Weighted answers (a question asked
    of part of its sample) give weighted shares, with the interval on Kish's effective sample size
    (Σw)² / Σw²."""
    n = len(answers)
    counts = answers["option_id"].value_counts().to_dict()
    weights = answers["weight"]
    weighted = bool((weights != 1.0).any())
    total = float(weights.sum())
    n_eff = stats.kish_n_eff(weights.to_numpy()) if weighted and total > 0 else n
    sums = answers.groupby("option_id")["weight"].sum().to_dict() if weighted else counts
    rows = []
    for option in options:
        count = int(counts.get(option.id, 0))
        share = float(sums.get(option.id, 0)) / total if weighted else count / n
        low, high = stats.wilson(share, n_eff)
        rows.append(
            {
                "code": option.code,
                "label": option.label,
                "count": count,
                "share": share,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows


def option_rows_counted(counts: np.ndarray, n: int, options: list[ItemOption]) -> list[dict]:
    """`option_rows` of `n` answers of unit weight, `counts[i]` of which chose `options[i]`:
    the same shares (count / n) and Wilson intervals on n."""
    rows = []
    for option, count in zip(options, counts, strict=True):
        share = int(count) / n
        low, high = stats.wilson(share, n)
        rows.append(
            {
                "code": option.code,
                "label": option.label,
                "count": int(count),
                "share": share,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows


def option_counts(answers: pd.DataFrame, options: list[ItemOption]) -> np.ndarray:
    """How many answers chose each option, in the options' order."""
    counts = answers["option_id"].value_counts()
    return np.array([int(counts.get(o.id, 0)) for o in options])


def option_share_measures(options: list[ItemOption]) -> list[Measure]:
    """Each option's share, then the distribution over all options."""

    def chose(option_id: int):
        return lambda answers: (answers["option_id"] == option_id).to_numpy()

    return [
        *(ShareMeasure("share", o.code, chose(o.id), weighted=True) for o in options),
        DistributionMeasure("distribution", lambda answers: option_counts(answers, options)),
    ]


class SingleChoice(ItemTypeAnalysis):
    method = METHOD
    counted = True

    def summarize(self, answers: pd.DataFrame, *, with_samples: bool = True) -> tuple[list, dict]:
        return option_rows(answers, self.options), {
            "n_effective": stats.kish_n_eff(answers["weight"].to_numpy())
        }

    def summarize_counts(self, counts: np.ndarray, n: int) -> tuple[list, dict] | None:
        return option_rows_counted(counts, n, self.options), {"n_effective": float(n)}

    def group_tests_counts(self, table: np.ndarray) -> list[dict] | None:
        return [dict(stats.contingency_test(table, seed=self.seed))]

    def measures(self) -> list[Measure]:
        return option_share_measures(self.options)

    def group_tests(self, groups: list[pd.DataFrame]) -> list[dict]:
        table = np.array([option_counts(g, self.options) for g in groups])
        return [dict(stats.contingency_test(table, seed=self.seed))]
