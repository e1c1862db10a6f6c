"""Quality control of a run (seed 004 §9.2): are the answers suspiciously uniform, do they vary
with the persona attributes they should vary with, and which personas did the consistency check
find inconsistent.

LLM personas tend towards consensus; a poll-grounded item carries its own yardstick (the poll's
respondents' spread and associations), so every comparison is made against the poll where the item
is linked to one and against documented floors where it is not. The report is JSON-ready and meant
for the run's results and its page; its `limitations` are the sentences an analysis should repeat.
The statistics are in `studies.quality_stats`, the frames read from the database in
`studies.quality_frames`.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from environment.categories import DIMENSIONS
from studies.models import Item, ItemOption, Run, RunPersona
from studies.quality_frames import answers_with_demographics, poll_frame
from studies.quality_stats import cramers_v, spread, weighted_variance

#: Below this many answers to an item the figures are reported but nothing is flagged.
MIN_ANSWERS = 10
#: too_uniform (poll-linked): personas' normalised entropy below this fraction of the poll's.
UNIFORM_ENTROPY_RATIO = 0.5
#: too_uniform (no poll): the most chosen option's share above this.
UNIFORM_MODAL_SHARE = 0.9
#: low_variance (poll-linked Likert): personas' variance below this fraction of the poll's.
LOW_VARIANCE_RATIO = 0.5
#: low_variance (no poll, scale or bounded numeric): standard deviation below this share of the
#: scale's range (max - min).
LOW_SD_SHARE_OF_RANGE = 0.1
#: low_variance (unbounded numeric): coefficient of variation sd / |mean| below this.
LOW_COEFFICIENT_OF_VARIATION = 0.05
#: A clear association: Cramér's V at least this and the chi-square test's p below ASSOCIATION_P.
ASSOCIATION_V = 0.1
ASSOCIATION_P = 0.01
#: missing / spurious association: the other side's V below this fraction of the clear one's.
ASSOCIATION_RATIO = 0.5
#: Inconsistent personas listed (all are counted), and issues kept per persona.
INCONSISTENT_SHOWN = 50
ISSUES_SHOWN = 10

CATEGORICAL_TYPES = frozenset({Item.Type.SINGLE_CHOICE, Item.Type.LIKERT})
ASSOCIATION_DIMENSIONS = (*DIMENSIONS, "party")

METHOD = (
    "Quality control of the run's answers (seed 004 §9.2). "
    "Uniformity, for single-choice and Likert items: the modal share (the most chosen option's "
    "share) and the normalised Shannon entropy H/ln(k) of the answers' shares over the item's k "
    "options (0 = everyone chose the same option, 1 = evenly spread); answers and poll "
    "respondents are weighted (answers by their universe weight, respondents by their survey "
    "weight). For an item linked to a poll question the same figures are computed for the poll's "
    "own respondents, their answers mapped onto the item's options, and the ratio of the "
    f"personas' entropy to the poll's; the item is flagged too_uniform when that ratio is below "
    f"{UNIFORM_ENTROPY_RATIO}, or, without a poll, when the modal share exceeds "
    f"{UNIFORM_MODAL_SHARE}. "
    "Variance, for Likert items (on the options' scale values) and numeric items: the weighted "
    "variance Σw(x-mean)²/Σw; flagged low_variance when the personas' variance is below "
    f"{LOW_VARIANCE_RATIO} of the poll respondents' (poll-linked Likert items), or without a poll "
    f"when the standard deviation is below {LOW_SD_SHARE_OF_RANGE} of the scale's range "
    "(Likert, numeric with bounds), or for unbounded numeric items when the coefficient of "
    f"variation sd/|mean| is below {LOW_COEFFICIENT_OF_VARIATION} (or the variance is 0). "
    "Associations, for categorical items: Cramér's V = sqrt(chi²/(n·(min(r,c)-1))) of answer × "
    "dimension (age bracket, sex, race and ethnicity, education, income, and party where personas "
    "carry party identification) with the Pearson chi-square test without continuity correction "
    "(scipy.stats.chi2_contingency); weighted tables are rescaled to Kish's effective sample size "
    "(Σw)²/Σw² for the test, which leaves V unchanged; missing categories are left out. For a "
    "poll-linked item the same is computed among the poll's respondents: an association is clear "
    f"when V ≥ {ASSOCIATION_V} and p < {ASSOCIATION_P}; missing_association is flagged when the "
    f"poll's is clear and the personas' V is below {ASSOCIATION_RATIO} of it, "
    "spurious_association when the personas' is clear and the poll's V is below "
    f"{ASSOCIATION_RATIO} of it. Without a poll the personas' V is reported only. "
    f"Items with fewer than {MIN_ANSWERS} answers are reported but not flagged. "
    "Inconsistent personas: the run's persona records whose consistency check (seed 004 §9.1) "
    f"returned valid=false, with their issues (first {INCONSISTENT_SHOWN} personas and "
    f"{ISSUES_SHOWN} issues each shown, all counted); any such persona raises an "
    "inconsistent_personas flag."
)


def _clear(association: dict) -> bool:
    return (
        association.get("v") is not None
        and association["v"] >= ASSOCIATION_V
        and association["p"] < ASSOCIATION_P
    )


def _scale_values(options: list[ItemOption]) -> dict[int, float]:
    """Each option's point on the scale: its value, or its position (1..n) when it has none."""
    return {
        o.id: float(o.value) if o.value is not None else float(position)
        for position, o in enumerate(options, start=1)
    }


class _Report:
    def __init__(self) -> None:
        self.flags: list[dict] = []
        self.limitations: list[str] = []

    def flag(self, item: str | None, kind: str, message: str, values: dict, limitation: str):
        self.flags.append({"item": item, "kind": kind, "message": message, "values": values})
        self.limitations.append(limitation)


def _uniformity(item: Item, personas: dict, poll: dict | None, report: _Report) -> dict:
    result: dict[str, Any] = {"personas": personas}
    judged = personas["n"] >= MIN_ANSWERS
    if poll is not None and poll["n"]:
        ratio = personas["entropy"] / poll["entropy"] if poll["entropy"] > 0 else None
        result |= {"poll": poll, "entropy_ratio": ratio}
        if judged and ratio is not None and ratio < UNIFORM_ENTROPY_RATIO:
            values = {
                "entropy": personas["entropy"],
                "poll_entropy": poll["entropy"],
                "entropy_ratio": ratio,
                "threshold": UNIFORM_ENTROPY_RATIO,
            }
            report.flag(
                item.code,
                "too_uniform",
                f"Personas' answers are far more uniform than the poll's respondents': normalised "
                f"entropy {personas['entropy']:.2f} vs {poll['entropy']:.2f} (ratio {ratio:.2f}, "
                f"flagged below {UNIFORM_ENTROPY_RATIO}).",
                values,
                f"Item '{item.code}': the personas agree far more than real respondents did "
                f"(entropy {personas['entropy']:.2f} vs the poll's {poll['entropy']:.2f}), so its "
                "shares understate real disagreement.",
            )
    elif judged and personas["modal_share"] > UNIFORM_MODAL_SHARE:
        values = {"modal_share": personas["modal_share"], "threshold": UNIFORM_MODAL_SHARE}
        report.flag(
            item.code,
            "too_uniform",
            f"{personas['modal_share']:.0%} of personas chose '{personas['modal_option']}' "
            f"(flagged above {UNIFORM_MODAL_SHARE:.0%}; no poll to compare with).",
            values,
            f"Item '{item.code}': {personas['modal_share']:.0%} of personas gave the same answer; "
            "simulated personas tend towards consensus, so real opinion is likely more divided.",
        )
    return result


def _variance(
    item: Item,
    values: pd.Series,
    weights: pd.Series,
    poll: tuple[pd.Series, pd.Series] | None,
    scale_range: float | None,
    report: _Report,
) -> dict:
    mean, variance = weighted_variance(values, weights)
    sd = math.sqrt(variance)
    result: dict[str, Any] = {"n": len(values), "mean": mean, "variance": variance, "sd": sd}
    judged = len(values) >= MIN_ANSWERS
    reason: tuple[str, dict] | None = None
    if poll is not None and len(poll[0]):
        poll_mean, poll_variance = weighted_variance(*poll)
        ratio = variance / poll_variance if poll_variance > 0 else None
        result |= {"poll_mean": poll_mean, "poll_variance": poll_variance, "variance_ratio": ratio}
        if ratio is not None and ratio < LOW_VARIANCE_RATIO:
            reason = (
                f"variance {variance:.3g} vs the poll respondents' {poll_variance:.3g} (ratio "
                f"{ratio:.2f}, flagged below {LOW_VARIANCE_RATIO})",
                {
                    "variance": variance,
                    "poll_variance": poll_variance,
                    "variance_ratio": ratio,
                    "threshold": LOW_VARIANCE_RATIO,
                },
            )
    elif scale_range is not None and scale_range > 0:
        floor = LOW_SD_SHARE_OF_RANGE * scale_range
        result |= {"range": scale_range, "sd_floor": floor}
        if sd < floor:
            reason = (
                f"standard deviation {sd:.3g} is below {LOW_SD_SHARE_OF_RANGE} of the range "
                f"{scale_range:.3g} ({floor:.3g})",
                {"sd": sd, "range": scale_range, "sd_floor": floor},
            )
    else:
        cv = sd / abs(mean) if mean != 0 else None
        result["coefficient_of_variation"] = cv
        if variance == 0 or (cv is not None and cv < LOW_COEFFICIENT_OF_VARIATION):
            reason = (
                f"coefficient of variation {cv if cv is not None else 0:.3g} (flagged below "
                f"{LOW_COEFFICIENT_OF_VARIATION}, or when every answer is the same)",
                {"variance": variance, "coefficient_of_variation": cv},
            )
    if judged and reason is not None:
        text, numbers = reason
        report.flag(
            item.code,
            "low_variance",
            f"Personas' answers barely vary: {text}.",
            numbers,
            f"Item '{item.code}': the answers vary too little ({text}) for comparisons between "
            "groups or conditions to mean much.",
        )
    return result


def _associations(
    item: Item, answers: pd.DataFrame, poll: pd.DataFrame | None, report: _Report
) -> dict:
    result = {}
    judged = len(answers) >= MIN_ANSWERS
    for dimension in ASSOCIATION_DIMENSIONS:
        entry: dict[str, Any] = {
            "personas": cramers_v(answers["option_id"], answers[dimension], answers["weight"])
        }
        if poll is not None:
            entry["poll"] = cramers_v(poll["option_id"], poll[dimension], poll["weight"])
        result[dimension] = entry
        mine, theirs = entry["personas"], entry.get("poll")
        if judged and theirs is not None and mine["v"] is None and _clear(theirs):
            # Not a flag: the personas may simply not carry the attribute (party without profiles).
            report.limitations.append(
                f"Item '{item.code}': the poll's answers vary with {dimension} (V "
                f"{theirs['v']:.2f}) but the personas' {dimension} does not vary, so whether they "
                "reproduce that difference could not be checked."
            )
        if not judged or theirs is None or mine["v"] is None or theirs["v"] is None:
            continue
        numbers = {
            "dimension": dimension,
            "v": mine["v"],
            "p": mine["p"],
            "poll_v": theirs["v"],
            "poll_p": theirs["p"],
            "v_threshold": ASSOCIATION_V,
            "p_threshold": ASSOCIATION_P,
            "ratio": ASSOCIATION_RATIO,
        }
        if _clear(theirs) and mine["v"] < ASSOCIATION_RATIO * theirs["v"]:
            report.flag(
                item.code,
                "missing_association",
                f"The poll's answers vary with {dimension} (Cramér's V {theirs['v']:.2f}, "
                f"p={theirs['p']:.2g}) but the personas' barely do (V {mine['v']:.2f}).",
                numbers,
                f"Item '{item.code}': the personas' answers do not vary with {dimension} as real "
                f"respondents' do (V {mine['v']:.2f} vs {theirs['v']:.2f}); group breakdowns by "
                f"{dimension} are not to be trusted.",
            )
        elif _clear(mine) and theirs["v"] < ASSOCIATION_RATIO * mine["v"]:
            report.flag(
                item.code,
                "spurious_association",
                f"The personas' answers vary with {dimension} (Cramér's V {mine['v']:.2f}, "
                f"p={mine['p']:.2g}) far more than the poll's respondents' (V {theirs['v']:.2f}).",
                numbers,
                f"Item '{item.code}': the personas' answers depend on {dimension} much more than "
                f"real respondents' do (V {mine['v']:.2f} vs {theirs['v']:.2f}), which suggests "
                "a stereotype rather than an observed difference.",
            )
    return result


def _inconsistent_personas(run: Run, report: _Report) -> dict:
    records = RunPersona.objects.filter(run=run, consistency__valid=False).order_by("persona_id")
    # Most runs check no persona (the offline backends never do): then one pass over the run's
    # persona records (a million for a large run) finds it, without matching any JSON.
    checked = RunPersona.objects.filter(run=run, consistency__isnull=False).count()
    count = records.count() if checked else 0
    listed = records.values_list("persona_id", "consistency")[:INCONSISTENT_SHOWN] if count else []
    shown = []
    for persona_id, consistency in listed:
        issues = list((consistency or {}).get("issues") or [])
        shown.append(
            {
                "persona_id": persona_id,
                "issues": [str(i) for i in issues[:ISSUES_SHOWN]],
                "issue_count": len(issues),
            }
        )
    if count:
        report.flag(
            None,
            "inconsistent_personas",
            f"{count} of {checked} checked personas failed the consistency check.",
            {"count": count, "checked": checked},
            f"{count} of {checked} personas were found internally inconsistent (their profile and "
            "context disagree); their answers rest on a contradictory persona.",
        )
    return {"checked": checked, "count": count, "personas": shown}


def run_quality(run: Run) -> dict:
    """The run's quality report: uniformity, variance and associations per item, inconsistent
    personas, flags, and the limitations to note (JSON-ready)."""
    if not isinstance(run, Run) or run.pk is None:
        raise TypeError(
            f"run_quality needs a saved studies.models.Run, got {run!r}; pass Run.objects.get(...)."
        )
    report = _Report()
    frame = answers_with_demographics(run)
    items = list(Item.objects.filter(study_id=run.study_id).prefetch_related("options"))
    results_items = []
    not_assessed = []
    for item in items:
        answers = frame[frame["item_id"] == item.id]
        entry: dict[str, Any] = {
            "item_id": item.id,
            "code": item.code,
            "type": item.type,
            "poll_question_id": item.poll_question_id,
        }
        options = list(item.options.all())
        if item.type in CATEGORICAL_TYPES and len(options) >= 2:
            answers = answers[answers["option_id"].notna()].astype({"option_id": int})
            poll = None
            if item.poll_question_id is not None:
                item_option_of = {o.poll_option_id: o.id for o in options if o.poll_option_id}
                poll, unmapped = poll_frame(item.poll_question_id, item_option_of)
                entry["poll_respondents"] = len(poll)
                entry["poll_unmapped"] = unmapped
            entry["n"] = len(answers)
            if answers.empty:
                results_items.append(entry | {"note": "no answers"})
                continue
            personas = spread(answers["option_id"], answers["weight"], options)
            poll_spread = (
                spread(poll["option_id"], poll["weight"], options) if poll is not None else None
            )
            entry["uniformity"] = _uniformity(item, personas, poll_spread, report)
            if item.type == Item.Type.LIKERT:
                scale = _scale_values(options)
                points = list(scale.values())
                entry["variance"] = _variance(
                    item,
                    answers["option_id"].map(scale),
                    answers["weight"],
                    (poll["option_id"].map(scale), poll["weight"]) if poll is not None else None,
                    max(points) - min(points),
                    report,
                )
            entry["associations"] = _associations(item, answers, poll, report)
        elif item.type == Item.Type.NUMERIC:
            answers = answers[answers["number"].notna()]
            entry["n"] = len(answers)
            if answers.empty:
                results_items.append(entry | {"note": "no answers"})
                continue
            low, high = item.min_value, item.max_value
            entry["variance"] = _variance(
                item,
                answers["number"].astype(float),
                answers["weight"],
                None,
                high - low if low is not None and high is not None else None,
                report,
            )
        else:
            not_assessed.append(item.code)
            entry["note"] = "not assessed: the checks cover single-choice, Likert and numeric items"
        results_items.append(entry)
    inconsistent = _inconsistent_personas(run, report)
    limitations = list(report.limitations)
    if not_assessed:
        limitations.append(
            f"Items {', '.join(not_assessed)} (multiple selection, ranking or free text) were not "
            "checked for uniformity or associations."
        )
    if frame["condition"].nunique() > 1:
        limitations.append(
            "The checks pool every condition's answers: differences between conditions add spread "
            "and can show as associations where assignment was not balanced on a dimension."
        )
    if not inconsistent["checked"]:
        limitations.append(
            "No persona's consistency was checked in this run, so inconsistent personas cannot be "
            "listed."
        )
    limitations.append(
        "Cramér's V is biased upwards in small samples, so a missing association is judged "
        "conservatively and a spurious one needs p < 0.01 among the personas; poll comparisons "
        "assume the personas stand for the poll's population."
    )
    return {
        "run_id": run.id,
        "method": METHOD,
        "thresholds": {
            "min_answers": MIN_ANSWERS,
            "uniform_entropy_ratio": UNIFORM_ENTROPY_RATIO,
            "uniform_modal_share": UNIFORM_MODAL_SHARE,
            "low_variance_ratio": LOW_VARIANCE_RATIO,
            "low_sd_share_of_range": LOW_SD_SHARE_OF_RANGE,
            "low_coefficient_of_variation": LOW_COEFFICIENT_OF_VARIATION,
            "association_v": ASSOCIATION_V,
            "association_p": ASSOCIATION_P,
            "association_ratio": ASSOCIATION_RATIO,
        },
        "items": results_items,
        "inconsistent_personas": inconsistent,
        "flags": report.flags,
        "ok": not report.flags,
        "limitations": limitations,
    }
