"""Policy support: an item's options mapped to support / oppose / neutral, and the figures a campaign
reads from them — overall, by area and by demographic group, with intervals, tests of the
differences, swing groups, the social pressures of each area and how support goes with them, and
the lift of each message (a condition of the study) over the control.

Every figure is a pure function of a per-persona frame (columns `stance`, `area`, the demographic
dimensions, `condition`, and one column per social pressure), so a test can recompute it directly
with scipy and statsmodels on the same counts. The analyzer (`PolicySupportAnalyzer`) adds these
figures to the questionnaire results of a study made by the political endpoints
(`studies.models.PolicyAnalysis`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.proportion import proportions_ztest

from environment.categories import DIMENSIONS
from environment.models import Area
from environment.selectors import environmental_context
from personas.awareness import PersonaView, social_pressures
from personas.models import Persona
from studies.analyzers import stats
from studies.analyzers.questionnaire import QuestionnaireAnalyzer, answers_frame
from studies.models import Condition, Item, PolicyAnalysis, Run

SUPPORT, OPPOSE, NEUTRAL = "support", "oppose", "neutral"
STANCES: Final = (SUPPORT, OPPOSE, NEUTRAL)
PRESSURES: Final = ("conformity", "minority_solidarity", "economic", "cultural", "political")
#: A group is a swing group when the 95% interval of its two-way support share contains this.
THRESHOLD: Final = 0.5
#: Groups (or group-by-area cells) with fewer personas are not ranked as swing groups or movers:
#: their intervals are too wide to say anything.
MIN_GROUP: Final = 10
#: Swing movers listed: the groups whose support moves most between areas / conditions.
TOP_MOVERS: Final = 5
Z_TEST: Final = "two-proportion z-test (statsmodels.stats.proportion.proportions_ztest, pooled)"
POINT_BISERIAL: Final = "point-biserial correlation (scipy.stats.pointbiserialr)"

# The stance rule for option labels, checked in this order so "Neither agree nor disagree" is
# neutral and "Disagree" is not read as "agree". Whole words only.
NEUTRAL_WORDS: Final = (
    "neither", "neutral", "not sure", "don't know", "dont know", "no opinion", "undecided",
    "depends", "unsure", "mixed",
)  # fmt: skip
OPPOSE_WORDS: Final = (
    "oppose", "opposed", "against", "disagree", "disapprove", "reject", "no", "decline",
)  # fmt: skip
SUPPORT_WORDS: Final = (
    "support", "supported", "favor", "favour", "in favor", "agree", "approve", "yes", "for",
)  # fmt: skip
STANCE_RULE: Final = (
    "An option label is read as neutral when it contains one of the words "
    f"{', '.join(NEUTRAL_WORDS)}; else as oppose when it contains one of "
    f"{', '.join(OPPOSE_WORDS)}; else as support when it contains one of "
    f"{', '.join(SUPPORT_WORDS)} (whole words, case-insensitive, in that order so 'Neither agree "
    "nor disagree' is neutral and 'Disagree' is oppose). A label none of these words match is not "
    "guessed: the request must map it explicitly (`stances`)."
)

METHOD: Final = (
    "Each persona's answer to the policy item is mapped to a stance (support / oppose / neutral). "
    "Support, opposition and neutral shares carry 95% Wilson score intervals "
    "(statsmodels proportion_confint, method='wilson'); net support (support − opposition, the mean "
    "of +1 / −1 / 0 per persona) carries a seeded 95% percentile bootstrap interval "
    f"(scipy.stats.bootstrap, {stats.N_RESAMPLES} resamples). Differences between areas and "
    "between the categories of each demographic dimension are tested with Pearson's chi-square "
    "test of independence of category × stance (scipy.stats.chi2_contingency; Fisher's exact test "
    "when an expected count is below 5), Holm-corrected across dimensions. Swing groups: (a) "
    "groups whose two-way support share (support among personas who took a side) has a Wilson "
    f"interval containing {THRESHOLD:.0%}; (b) the groups whose support share varies most between "
    f"areas (range of the per-area shares, cells of at least {MIN_GROUP} personas), each with the "
    "chi-square test of area × stance within the group. Environment: the mean of each social "
    "pressure (personas/awareness, formulas in personas/awareness_README.md) over each area's "
    "personas, and the point-biserial correlation across personas between supporting (1/0) and "
    "each pressure — an association, not a causal effect: areas differ in many ways at once. "
    "Geographic variation: the range (max − min) of the areas' support shares with a seeded "
    "bootstrap interval resampling personas within each area. With messages (conditions), these "
    "figures describe the control arm, and each message's lift is its support share minus the "
    "control's, with a Newcombe interval (statsmodels confint_proportions_2indep) and a "
    f"{Z_TEST}, Holm-corrected across messages. Personas are simulated, not sampled people: "
    "intervals and tests describe the noise of the simulation."
)


def _has_word(label: str, words: tuple[str, ...]) -> bool:
    text = label.lower().replace("’", "'")
    return any(re.search(rf"(?<![\w']){re.escape(w)}(?![\w'])", text) for w in words)


def infer_stance(label: str) -> str | None:
    """The stance an option label states, by `STANCE_RULE`; None when it states none."""
    if _has_word(label, NEUTRAL_WORDS):
        return NEUTRAL
    if _has_word(label, OPPOSE_WORDS):
        return OPPOSE
    if _has_word(label, SUPPORT_WORDS):
        return SUPPORT
    return None


def stance_problems(stances: Mapping[str, str], option_codes: list[str]) -> list[str]:
    """What keeps a stance mapping from covering an item's options with both sides."""
    problems = [
        f"option '{code}' has no stance; map it to support, oppose or neutral"
        for code in option_codes
        if code not in stances
    ]
    problems += [
        f"'{code}' is not an option of the item ({', '.join(option_codes)})"
        for code in stances
        if code not in option_codes
    ]
    problems += [
        f"option '{code}': '{stance}' is not a stance ({', '.join(STANCES)})"
        for code, stance in stances.items()
        if stance not in STANCES
    ]
    if not problems:
        for side in (SUPPORT, OPPOSE):
            if side not in stances.values():
                problems.append(f"no option means {side}: the item cannot measure support")
    return problems


# --- shares and net support ------------------------------------------------------------------


def _share(count: int, n: int) -> dict:
    low, high = stats.wilson(count / n, n) if n else (None, None)
    return {"count": count, "share": count / n if n else None, "ci_low": low, "ci_high": high}


def net_values(stance: pd.Series) -> np.ndarray:
    """+1 for support, −1 for oppose, 0 for neutral: their mean is net support."""
    return stance.map({SUPPORT: 1.0, OPPOSE: -1.0, NEUTRAL: 0.0}).to_numpy(dtype=float)


def stance_summary(frame: pd.DataFrame, *, seed: int, with_net_interval: bool = True) -> dict:
    """Counts and Wilson intervals of each stance, the two-way support share, and net support with
    its bootstrap interval."""
    n = len(frame)
    counts = frame["stance"].value_counts()
    support, oppose = int(counts.get(SUPPORT, 0)), int(counts.get(OPPOSE, 0))
    neutral = int(counts.get(NEUTRAL, 0))
    net = float(net_values(frame["stance"]).mean()) if n else None
    low, high = (
        stats.bootstrap_interval(net_values(frame["stance"]), np.mean, seed=seed)
        if with_net_interval and n
        else (None, None)
    )
    return {
        "n": n,
        SUPPORT: _share(support, n),
        OPPOSE: _share(oppose, n),
        NEUTRAL: _share(neutral, n),
        "two_way_support": _share(support, support + oppose),
        "net_support": {"estimate": net, "ci_low": low, "ci_high": high},
    }


def stance_table(frame: pd.DataFrame, column: str) -> tuple[list, np.ndarray]:
    """Categories of `column` × (support, oppose, neutral) counts."""
    table = pd.crosstab(frame[column], frame["stance"]).reindex(columns=list(STANCES), fill_value=0)
    return list(table.index), table.to_numpy()


def breakdown(frame: pd.DataFrame, column: str, labels: Mapping, *, seed: int) -> list[dict]:
    """The stance summary within each category of `column` that has personas, in `labels` order
    (then any category `labels` lacks, sorted)."""
    present = set(frame[column].dropna().unique())
    order = [c for c in labels if c in present] + sorted(present - set(labels))
    grouped = dict(list(frame.groupby(column)))
    return [
        {"category": c, "label": labels.get(c, c)}
        | stance_summary(grouped[c], seed=seed + i, with_net_interval=True)
        for i, c in enumerate(order)
    ]


def difference_tests(frame: pd.DataFrame, columns: tuple[str, ...], *, seed: int) -> dict:
    """Whether stance depends on each column (area, each demographic dimension): chi-square test
    of independence of category × stance, Holm-corrected across the columns."""
    rows = []
    for column in columns:
        categories, table = stance_table(frame, column)
        rows.append(
            {"dimension": column, "groups": len(categories)}
            | dict(stats.contingency_test(table, seed=seed))
        )
    return {"correction": "holm", "tests": stats.holm(rows)}


# --- swing groups ----------------------------------------------------------------------------


def swing_near_threshold(breakdowns: Mapping[str, list[dict]]) -> list[dict]:
    """Groups whose two-way support share's Wilson interval contains THRESHOLD."""
    rows = []
    for dimension, groups in breakdowns.items():
        for group in groups:
            two_way = group["two_way_support"]
            if group["n"] < MIN_GROUP or two_way["ci_low"] is None:
                continue
            if two_way["ci_low"] <= THRESHOLD <= two_way["ci_high"]:
                rows.append(
                    {
                        "dimension": dimension,
                        "category": group["category"],
                        "label": group["label"],
                        "n": group["n"],
                        "two_way_support": two_way,
                    }
                )
    return sorted(rows, key=lambda r: abs(r["two_way_support"]["share"] - THRESHOLD))


def swing_movers(
    frame: pd.DataFrame, dimensions: tuple[str, ...], across: str, *, seed: int
) -> list[dict]:
    """Demographic groups whose support share varies most across the values of `across` (area
    or condition): the range of the per-cell support shares over cells of at least MIN_GROUP
    personas, with the chi-square test of `across` × stance within the group."""
    rows: list[dict] = []
    for dimension in dimensions:
        for key, group in frame.groupby(dimension):
            category = str(key)
            sizes = group[across].value_counts()
            cells = group[group[across].isin(sizes[sizes >= MIN_GROUP].index)]
            if cells[across].nunique() < 2:
                continue
            shares = (cells["stance"] == SUPPORT).groupby(cells[across]).mean()
            _, table = stance_table(cells, across)
            rows.append(
                {
                    "dimension": dimension,
                    "category": category,
                    "label": DIMENSIONS.get(dimension, {}).get(category, category),
                    "across": across,
                    "range": float(shares.max() - shares.min()),
                    "support_by": {str(k): float(v) for k, v in shares.items()},
                    "n": len(cells),
                }
                | dict(stats.contingency_test(table, seed=seed))
            )
    rows.sort(key=lambda r: -r["range"])
    return stats.holm(rows)[:TOP_MOVERS]


# --- environment -----------------------------------------------------------------------------


def area_pressures(frame: pd.DataFrame, pressures: tuple[str, ...] = PRESSURES) -> list[dict]:
    """The mean of each pressure over each area's personas (those for which it is derivable)."""
    rows = []
    for area, group in frame.groupby("area"):
        means = {}
        for name in pressures:
            values = group[name].dropna().to_numpy(dtype=float)
            means[name] = {
                "mean": float(values.mean()) if values.size else None,
                "n": int(values.size),
            }
        rows.append({"area": area, "pressures": means})
    return rows


def _outcome(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    """The 1/0 outcome per persona: supporting (stance == SUPPORT), or a 1/0 `column`."""
    if column is None:
        return (frame["stance"] == SUPPORT).to_numpy(dtype=float)
    return frame[column].to_numpy(dtype=float)


def pressure_associations(
    frame: pd.DataFrame,
    pressures: tuple[str, ...] = PRESSURES,
    *,
    outcome: str | None = None,
    what: str = "support",
) -> list[dict]:
    """Across personas: the point-biserial correlation of the 1/0 outcome (supporting, or the
    `outcome` column, e.g. the market's intent to buy) with each pressure, Holm-corrected across
    the pressures. An association, not a causal effect."""
    rows = []
    for name in pressures:
        known = frame[frame[name].notna()]
        hits = _outcome(known, outcome)
        values = known[name].to_numpy(dtype=float)
        row: dict = {"pressure": name, "n": len(known), "measure": POINT_BISERIAL}
        if len(known) < 3 or np.ptp(values) == 0 or np.ptp(hits) == 0:
            row |= {"r": None, "p": None, "note": f"no variation in the pressure or in {what}"}
        else:
            result = sps.pointbiserialr(hits, values)
            row |= {"r": float(result.statistic), "p": float(result.pvalue), "note": ""}
        row["interpretation"] = "association across personas, not a causal effect"
        rows.append(row)
    return stats.holm(rows)


def _share_range(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    means = np.stack([np.mean(s, axis=axis) for s in samples])
    return means.max(axis=0) - means.min(axis=0)


def geographic_variation(frame: pd.DataFrame, *, seed: int, outcome: str | None = None) -> dict:
    """The range of the areas' shares of the 1/0 outcome (support, or the `outcome` column), with
    a seeded percentile bootstrap interval that resamples personas within each area
    (scipy.stats.bootstrap over the areas' samples); no interval without variation to resample."""
    samples = [_outcome(g, outcome) for _, g in frame.groupby("area") if len(g)]
    if len(samples) < 2:
        return {"estimate": None, "ci_low": None, "ci_high": None, "areas": len(samples)}
    estimate = float(_share_range(*samples))
    if any(s.size < 2 for s in samples) or all(np.ptp(s) == 0 for s in samples):
        return {"estimate": estimate, "ci_low": None, "ci_high": None, "areas": len(samples)}
    result = sps.bootstrap(
        tuple(samples),
        _share_range,
        n_resamples=stats.N_RESAMPLES,
        vectorized=True,
        paired=False,
        confidence_level=stats.CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return {
        "estimate": estimate,
        "ci_low": float(result.confidence_interval.low),
        "ci_high": float(result.confidence_interval.high),
        "areas": len(samples),
    }


# --- messages --------------------------------------------------------------------------------


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


# --- the analyzer ----------------------------------------------------------------------------


def persona_pressures(persona_ids: list[int]) -> pd.DataFrame:
    """Each persona's five social pressures in its area (None where underivable); one context
    read per area."""
    personas = list(Persona.objects.filter(id__in=persona_ids).select_related("area"))
    contexts = {a: environmental_context(area_id=a) for a in {p.area_id for p in personas}}
    rows = []
    for persona in personas:
        pressures = social_pressures(PersonaView.from_persona(persona), contexts[persona.area_id])
        rows.append({"persona_id": persona.id} | {p.name: p.value for p in pressures.items()})
    return pd.DataFrame(rows, columns=["persona_id", *PRESSURES])


def policy_frame(run: Run, spec: PolicyAnalysis) -> pd.DataFrame:
    """One row per persona who answered the policy item: stance, area, demographics, condition
    and social pressures."""
    answers = answers_frame(run)
    item = Item.objects.get(study_id=run.study_id, code=spec.item_code)
    answers = answers[answers["item_id"] == item.id]
    codes = dict(item.options.values_list("id", "code"))
    answers = answers.assign(stance=answers["option_id"].map(codes).map(spec.stances))
    answers = answers[answers["stance"].notna()]
    pressures = persona_pressures(answers["persona_id"].tolist())
    return answers.merge(pressures, on="persona_id", how="left")


def policy_results(
    frame: pd.DataFrame,
    *,
    conditions: list[str],
    area_labels: Mapping[str, str],
    target_dimensions: tuple[str, ...],
    pressures: tuple[str, ...] = PRESSURES,
    seed: int,
) -> dict:
    """Every policy figure from a per-persona frame (see the module docstring)."""
    dimensions = tuple(DIMENSIONS)
    base = frame[frame["condition"] == conditions[0]] if len(conditions) > 1 else frame
    breakdowns = {
        dimension: breakdown(base, dimension, DIMENSIONS[dimension], seed=seed)
        for dimension in dimensions
    }
    result = {
        "threshold": THRESHOLD,
        "describes": (
            f"the control condition '{conditions[0]}'" if len(conditions) > 1 else "every persona"
        ),
        "overall": stance_summary(base, seed=seed),
        "by_area": breakdown(base, "area", area_labels, seed=seed),
        "by_group": breakdowns,
        "significance": difference_tests(base, ("area", *dimensions), seed=seed),
        "swing": {
            "definition": (
                f"near_threshold: groups of at least {MIN_GROUP} personas whose two-way support "
                f"share (support among personas who took a side) has a 95% Wilson interval "
                f"containing {THRESHOLD:.0%}. movers: the {TOP_MOVERS} demographic groups whose "
                "support share varies most (max − min) between areas and between conditions, "
                f"over cells of at least {MIN_GROUP} personas, each with a chi-square test of "
                "that variation (Holm-corrected)."
            ),
            "near_threshold": swing_near_threshold(breakdowns),
            "movers_between_areas": swing_movers(base, dimensions, "area", seed=seed),
            "movers_between_conditions": (
                swing_movers(frame, dimensions, "condition", seed=seed)
                if len(conditions) > 1
                else []
            ),
        },
        "environment": {
            "pressures": list(pressures),
            "by_area": area_pressures(base, pressures),
            "associations": pressure_associations(base, pressures),
            "geographic_variation": geographic_variation(base, seed=seed),
        },
    }
    if len(conditions) > 1:
        result["messages"] = message_lifts(frame, conditions, target_dimensions)
    return result


class PolicySupportAnalyzer(QuestionnaireAnalyzer):
    """The questionnaire's results, plus the policy figures (`policy`) when the study was made by
    the political endpoints (it then has a PolicyAnalysis saying which item asks the policy and
    how its options map to stances)."""

    def results(self, *, run: Run) -> dict:
        results = super().results(run=run)
        spec = PolicyAnalysis.objects.filter(study_id=run.study_id).first()
        if spec is None:
            return results
        frame = policy_frame(run, spec)
        conditions = list(
            Condition.objects.filter(study_id=run.study_id).values_list("code", flat=True)
        )
        area_labels = dict(
            Area.objects.filter(id__in=frame["area"].unique().tolist()).values_list("id", "name")
        )
        include_conformity = spec.request.get("include_social_conformity", True) is not False
        pressures = tuple(p for p in PRESSURES if include_conformity or p != "conformity")
        results["policy"] = {
            "method": METHOD,
            "stance_rule": STANCE_RULE,
            "item_code": spec.item_code,
            "stances": spec.stances,
            "stance_source": spec.stance_source,
        } | policy_results(
            frame,
            conditions=conditions or [""],
            area_labels=area_labels,
            target_dimensions=tuple(spec.target_demographics or DIMENSIONS),
            pressures=pressures,
            seed=int(run.seed) % (2**32),
        )
        return results
