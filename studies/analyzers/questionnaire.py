"""A questionnaire's results: each item analysed by its type's module, overall, within every area
and demographic group and every condition, with conditions compared to the first and groups
tested against each other."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd

from environment.categories import DIMENSIONS
from environment.models import Area
from studies.analyzers import stats
from studies.analyzers.answers import answers_frame_read
from studies.analyzers.base import Analyzer
from studies.analyzers.comparisons import condition_comparisons, group_comparisons
from studies.analyzers.free_text import FreeText
from studies.analyzers.item_type import ItemTypeAnalysis, OptionTable
from studies.analyzers.likert import Likert
from studies.analyzers.model_estimates import item_model_estimate
from studies.analyzers.multiple_choice import MultipleChoice
from studies.analyzers.numeric import Numeric
from studies.analyzers.ranking import Ranking
from studies.analyzers.single_choice import SingleChoice
from studies.models import Answer, Condition, Item, Run

CONFIDENCE = stats.CONFIDENCE
METHOD = (
    "Each item is summarised by its type (the item's own `method` names every statistic): "
    "single choice and Likert points as the share of personas choosing each option with a 95% "
    "Wilson score interval (statsmodels.stats.proportion.proportion_confint, method='wilson'), "
    "means with t intervals, medians and Borda scores with seeded bootstrap intervals; overall, "
    "within each area and demographic group, and within each condition. Each condition is "
    "compared with the first (control), and answers are tested across the categories of each "
    "area and demographic dimension, with Holm's correction (statsmodels multipletests) across "
    "the comparisons of one item; 'significant' means a Holm-adjusted p below 0.05. Personas are "
    "simulated, not independently sampled people: the intervals and tests describe sampling "
    "noise in the simulation, not the uncertainty of a real survey."
)
BREAKDOWN_DIMENSIONS = ("area", *DIMENSIONS)

ITEM_TYPES: dict[str, type[ItemTypeAnalysis]] = {
    Item.Type.SINGLE_CHOICE: SingleChoice,
    Item.Type.MULTIPLE_CHOICE: MultipleChoice,
    Item.Type.LIKERT: Likert,
    Item.Type.NUMERIC: Numeric,
    Item.Type.RANKING: Ranking,
    Item.Type.FREE_TEXT: FreeText,
}
#: Types whose answers are the options a poll question's model predicts.
MODEL_ESTIMATE_TYPES = frozenset({Item.Type.SINGLE_CHOICE, Item.Type.LIKERT})

FRAME_COLUMNS = {
    "id": "answer_id",
    "persona_id": "persona_id",
    "item_id": "item_id",
    "option_id": "option_id",
    "choices": "choices",
    "number": "number",
    "text": "text",
    "condition": "condition",
    "weight": "weight",
    "persona__area_id": "area",
    "persona__area__state": "state",
    "persona__age": "age",
    **{f"persona__{d}": d for d in DIMENSIONS},
    # Read for the quality report (studies.quality), so that it need not read the answers again.
    "persona__profile__party_identification": "party",
}


# Run id -> its answers frame while `answers_frames_shared` is open (studies.results): the
# analyzer and the policy figures read a large run's answers once, not once each.
_SHARED: ContextVar[dict[int, pd.DataFrame] | None] = ContextVar("answers_frames", default=None)


@contextmanager
def answers_frames_shared() -> Iterator[None]:
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def answers_frame_is_shared(run: Run) -> bool:
    """Whether the run's answers frame has been read inside `answers_frames_shared`."""
    shared = _SHARED.get()
    return shared is not None and run.id in shared


def answers_frame_orm(run: Run) -> pd.DataFrame:
    """The answers frame read row by row through the ORM (the reference for the coded read)."""
    return pd.DataFrame.from_records(
        Answer.objects.filter(run=run).values_list(*FRAME_COLUMNS),
        columns=list(FRAME_COLUMNS.values()),
    )


def answers_frame(run: Run) -> pd.DataFrame:
    """One row per stored answer (one query): its values, condition and weight, and the
    persona's area and demographics."""
    shared = _SHARED.get()
    if shared is not None and run.id in shared:
        return shared[run.id].copy()
    frame = answers_frame_read(run, FRAME_COLUMNS)
    if frame is None:  # a value the coded read does not know: every column as the ORM gives it
        frame = answers_frame_orm(run)
    if shared is not None:
        shared[run.id] = frame.copy()
    return frame


def option_tables(
    analysis: ItemTypeAnalysis, answers: pd.DataFrame, dimensions: tuple[str, ...]
) -> dict[str, OptionTable] | None:
    """Each dimension's option table, when the item's type is summarised and tested from counts
    (None otherwise): a pass over the answers per dimension instead of a frame per group."""
    if answers.empty or not analysis.counted:
        return None
    return {d: OptionTable(answers, d, analysis.options) for d in dimensions}


def _breakdown(
    analysis: ItemTypeAnalysis,
    answers: pd.DataFrame,
    dimension: str,
    labels: dict,
    table: OptionTable | None = None,
) -> list[dict]:
    """The item's summary within each category of one dimension that has answers, in the
    dimension's own order (areas by id)."""
    if answers.empty:
        return []
    order = list(labels) if dimension != "area" else sorted(answers["area"].unique())
    unit_weights = bool((answers["weight"] == 1.0).all())
    if table is not None and unit_weights:
        groups = []
        for category in order:
            g = table.categories.get(category)
            if g is None or not table.sizes[g]:
                continue
            n = int(table.sizes[g])
            summarized = analysis.summarize_counts(table.counts[g], n)
            if summarized is None:
                break
            groups.append(
                {
                    "category": category,
                    "label": labels.get(category, category),
                    "n": n,
                    "options": summarized[0],
                    "summary": summarized[1],
                }
            )
        else:
            return groups
    grouped = dict(list(answers.groupby(dimension)))
    groups = []
    for category in order:
        group = grouped.get(category)
        if group is None or group.empty:
            continue
        options, summary = analysis.summarize(group, with_samples=False)
        groups.append(
            {
                "category": category,
                "label": labels.get(category, category),
                "n": len(group),
                "options": options,
                "summary": summary,
            }
        )
    return groups


def _model_estimate_applies(run: Run, item: Item, options: list) -> bool:
    return (
        run.backend == "poll_model"
        and item.type in MODEL_ESTIMATE_TYPES
        and item.poll_question_id is not None
        and all(o.poll_option_id is not None for o in options)
    )


class QuestionnaireAnalyzer(Analyzer):
    """Every item by its own type's analysis."""

    method = METHOD

    def results(self, *, run: Run) -> dict:
        """Per item: the answers' count, its type's summary with intervals, the same within every
        area, demographic group and condition, and the comparisons between conditions and
        across groups."""
        items = list(
            Item.objects.filter(study_id=run.study_id)
            .select_related("poll_question")
            .prefetch_related("options")
        )
        conditions = list(Condition.objects.filter(study_id=run.study_id))
        frame = answers_frame(run)
        area_names = dict(
            Area.objects.filter(id__in=frame["area"].unique().tolist()).values_list("id", "name")
        )
        labels = {"area": area_names, **DIMENSIONS}
        seed = int(run.seed) % (2**32)
        results_items = [
            self._item(run, item, frame[frame["item_id"] == item.id], conditions, labels, seed)
            for item in items
        ]
        results = {
            "run_id": run.id,
            "backend": run.backend,
            "personas_answered": int(frame["persona_id"].nunique()),
            "confidence": CONFIDENCE,
            "method": self.method,
            "items": results_items,
        }
        if conditions:
            answered = frame.groupby("condition")["persona_id"].nunique().to_dict()
            results["conditions"] = [
                {"code": c.code, "label": c.label, "n": int(answered.get(c.code, 0))}
                for c in conditions
            ]
        return results

    def _item(
        self,
        run: Run,
        item: Item,
        answers: pd.DataFrame,
        conditions: list[Condition],
        labels: dict,
        seed: int,
    ) -> dict:
        options = list(item.options.all())
        analysis = ITEM_TYPES[item.type](item=item, options=options, seed=seed)
        n = len(answers)
        option_rows, summary = analysis.summarize(answers) if n else ([], {})
        entry: dict = {}
        question = item.poll_question
        if n and bool((answers["weight"] != 1.0).any()) and question is not None:
            entry["describes"] = (
                f"{question.universe} (personas weighted by their modelled probability of "
                "belonging)"
            )
        tables = option_tables(analysis, answers, BREAKDOWN_DIMENSIONS)
        if n and _model_estimate_applies(run, item, options):
            entry["model_estimate"] = item_model_estimate(
                run=run, item=item, answers=answers, labels=labels, tables=tables
            )
        by_condition = []
        for condition in conditions:
            arm = answers[answers["condition"] == condition.code]
            arm_options, arm_summary = analysis.summarize(arm) if len(arm) else ([], {})
            by_condition.append(
                {
                    "code": condition.code,
                    "label": condition.label,
                    "n": len(arm),
                    "options": arm_options,
                    "summary": arm_summary,
                }
            )
        return {
            "item_id": item.id,
            "code": item.code,
            "text": item.text,
            "type": item.type,
            "n": n,
            "options": option_rows,
            "summary": summary,
            "method": analysis.method,
            "breakdowns": {
                dimension: _breakdown(
                    analysis,
                    answers,
                    dimension,
                    labels[dimension],
                    tables[dimension] if tables is not None else None,
                )
                for dimension in BREAKDOWN_DIMENSIONS
            },
            "conditions": by_condition,
            "comparisons": {
                "conditions": condition_comparisons(
                    analysis, answers, [c.code for c in conditions], seed=seed
                ),
                "groups": group_comparisons(analysis, answers, BREAKDOWN_DIMENSIONS, tables=tables),
            },
        } | entry


# The analyzer's name before item types; kept for callers that import it.
SingleChoiceAnalyzer = QuestionnaireAnalyzer
