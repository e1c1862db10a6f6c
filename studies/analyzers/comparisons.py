"""Comparisons of an item's answers: each condition against the first (control), and across the
categories of each breakdown dimension, every set Holm-corrected within the item."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from studies.analyzers import stats
from studies.analyzers.item_type import (
    DistributionMeasure,
    ItemTypeAnalysis,
    MeanMeasure,
    Measure,
    OptionTable,
    ShareMeasure,
)


def _effective(measure: ShareMeasure, answers: pd.DataFrame) -> tuple[float, float]:
    """Successes and trials of a share: counts, or with weights the weighted share on Kish's
    effective n."""
    chosen = measure.chosen(answers)
    if not measure.weighted:
        return float(chosen.sum()), float(len(chosen))
    weights = answers["weight"].to_numpy(dtype=float)
    n_eff = stats.kish_n_eff(weights)
    return stats.weighted_share(chosen, weights) * n_eff, n_eff


def compare_measure(
    measure: Measure, answers: pd.DataFrame, control: pd.DataFrame, *, seed: int
) -> dict:
    """One measure in a condition against the control: estimates, difference with its interval,
    and the test."""
    row: dict = {
        "measure": measure.measure,
        "option": getattr(measure, "option", None),
        "estimate": None,
        "control_estimate": None,
        "difference": None,
        "ci_low": None,
        "ci_high": None,
        "interval": None,
    }
    if isinstance(measure, DistributionMeasure):
        table = np.array([measure.counts(answers), measure.counts(control)])
        return row | dict(stats.contingency_test(table, seed=seed))
    if isinstance(measure, ShareMeasure):
        successes, n = _effective(measure, answers)
        control_successes, control_n = _effective(measure, control)
        if n == 0 or control_n == 0:
            return row | dict(stats.untestable("a condition has no answers"))
        difference = stats.share_difference(successes, n, control_successes, control_n)
        table = np.array(
            [[successes, n - successes], [control_successes, control_n - control_successes]]
        )
        return row | {
            "estimate": successes / n,
            "control_estimate": control_successes / control_n,
            "difference": difference["estimate"],
            "ci_low": difference["ci_low"],
            "ci_high": difference["ci_high"],
            "interval": stats.NEWCOMBE,
            **stats.contingency_test(table, seed=seed),
        }
    assert isinstance(measure, MeanMeasure)
    values, control_values = measure.values(answers), measure.values(control)
    if not values.size or not control_values.size:
        return row | dict(stats.untestable("a condition has no answers"))
    difference, test = stats.welch(values, control_values)
    return row | {
        "estimate": float(values.mean()),
        "control_estimate": float(control_values.mean()),
        "difference": difference["estimate"],
        "ci_low": difference["ci_low"],
        "ci_high": difference["ci_high"],
        "interval": stats.WELCH,
        **test,
    }


def condition_comparisons(
    analysis: ItemTypeAnalysis, answers: pd.DataFrame, conditions: list[str], *, seed: int
) -> dict:
    """Every non-first condition against the first on each of the type's measures, with Holm's
    correction across all of them."""
    if len(conditions) < 2:
        return {"control": conditions[0] if conditions else None, "correction": "holm", "tests": []}
    control_code = conditions[0]
    control = answers[answers["condition"] == control_code]
    rows = []
    for code in conditions[1:]:
        arm = answers[answers["condition"] == code]
        for measure in analysis.measures():
            rows.append(
                {"condition": code, "control": control_code}
                | compare_measure(measure, arm, control, seed=seed)
            )
    return {"control": control_code, "correction": "holm", "tests": stats.holm(rows)}


def group_comparisons(
    analysis: ItemTypeAnalysis,
    answers: pd.DataFrame,
    dimensions: tuple[str, ...],
    *,
    tables: Mapping[str, OptionTable] | None = None,
) -> dict:
    """The type's omnibus test(s) across the categories of each dimension, with Holm's
    correction across the dimensions (and options, where a type tests each option). With the
    item's option tables (`questionnaire.option_tables`), a type that tests counts tests them."""
    rows: list[dict] = []
    for dimension in dimensions:
        if tables is not None:
            table = tables[dimension]
            tests = analysis.group_tests_counts(table.present())
            if tests is not None:
                present = int((table.sizes > 0).sum())
                rows.extend({"dimension": dimension, "groups": present, **t} for t in tests)
                continue
        groups = [group for _, group in answers.groupby(dimension) if not group.empty]
        for test in analysis.group_tests(groups):
            rows.append({"dimension": dimension, "groups": len(groups), **test})
    return {"correction": "holm", "tests": stats.holm(rows)}
