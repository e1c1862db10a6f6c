"""Message lifts: each message's (a condition of the study) support share minus the control's,
with a Newcombe interval and a two-proportion z-test, Holm-corrected, overall and within each
category of the target dimensions, and the best message of each. Pure functions of a per-persona
frame (columns `stance`, `condition`, the demographic dimensions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import pandas as pd
from statsmodels.stats.proportion import proportions_ztest

from environment.categories import DIMENSIONS
from studies.analyzers import stats
from studies.analyzers.policy_stance import SUPPORT

Z_TEST: Final = "two-proportion z-test (statsmodels.stats.proportion.proportions_ztest, pooled)"


def lift(arm: pd.DataFrame, control: pd.DataFrame) -> dict:
    """A message's support share minus the control's, with its Newcombe interval and a pooled
    two-proportion z-test."""
    s, n = int((arm["stance"] == SUPPORT).sum()), len(arm)
    cs, cn = int((control["stance"] == SUPPORT).sum()), len(control)
    row: dict = {"n": n, "control_n": cn, "support": s / n if n else None}
    row["control_support"] = cs / cn if cn else None
    if n == 0 or cn == 0:
        return row | {"lift": None, "ci_low": None, "ci_high": None, "z": None, "p": None}
    difference = stats.share_difference(s, n, cs, cn)
    z, p = (None, None)
    if 0 < s + cs < n + cn:  # the test is undefined when every persona answered alike
        z, p = proportions_ztest([s, cs], [n, cn])
    return row | {
        "lift": difference["estimate"],
        "ci_low": difference["ci_low"],
        "ci_high": difference["ci_high"],
        "interval": stats.NEWCOMBE,
        "test": Z_TEST,
        "z": None if z is None else float(z),
        "p": None if p is None else float(p),
    }


def _best(rows: list[dict], arms: Mapping[str, pd.DataFrame]) -> dict | None:
    """The message with the highest lift, and whether it stands out of the noise."""
    ranked = sorted((r for r in rows if r["lift"] is not None), key=lambda r: -r["lift"])
    if not ranked:
        return None
    best = ranked[0]
    warnings = []
    if not best["significant"]:
        warnings.append(
            "the best message's lift over control is within noise (Holm-adjusted p ≥ 0.05)"
        )
    runner_up = None
    if len(ranked) > 1:
        second = ranked[1]
        versus = lift(arms[best["condition"]], arms[second["condition"]])
        runner_up = {"condition": second["condition"], "difference": versus["lift"]}
        runner_up |= {"ci_low": versus["ci_low"], "ci_high": versus["ci_high"], "p": versus["p"]}
        if versus["p"] is None or versus["p"] >= stats.ALPHA:
            warnings.append(
                f"the best message is not distinguishable from the runner-up "
                f"'{second['condition']}' (two-proportion z-test p ≥ 0.05)"
            )
    return {
        "condition": best["condition"],
        "lift": best["lift"],
        "within_noise": bool(warnings),
        "warnings": warnings,
        "runner_up": runner_up,
    }


def message_lifts(frame: pd.DataFrame, conditions: list[str], dimensions: tuple[str, ...]) -> dict:
    """Each message's lift over the control (the first condition), overall and within each
    category of the target dimensions, Holm-corrected within each segment, with the best message
    per segment."""
    control_code, messages = conditions[0], conditions[1:]
    arms = {code: frame[frame["condition"] == code] for code in conditions}

    def segment(arms_in: Mapping[str, pd.DataFrame]) -> dict:
        rows = stats.holm(
            [{"condition": c} | lift(arms_in[c], arms_in[control_code]) for c in messages]
        )
        return {"lifts": rows, "best": _best(rows, arms_in)}

    result: dict = {"control": control_code, "correction": "holm", "overall": segment(arms)}
    by_segment = {}
    for dimension in dimensions:
        groups = []
        for category in DIMENSIONS.get(dimension, {}):
            within = {c: a[a[dimension] == category] for c, a in arms.items()}
            if sum(len(a) for a in within.values()) == 0:
                continue
            groups.append(
                {"category": category, "label": DIMENSIONS[dimension][category]} | segment(within)
            )
        by_segment[dimension] = groups
    result["by_segment"] = by_segment
    return result
