"""Single-choice results: the share of personas choosing each option, with 95 % Wilson intervals,
overall and by area and demographic group."""

from __future__ import annotations

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from environment.categories import DIMENSIONS
from environment.models import Area
from studies.analyzers.base import Analyzer
from studies.models import Answer, Item, Run

CONFIDENCE = 0.95
METHOD = (
    "Share of personas choosing each option, with a 95% Wilson score interval per option "
    "(statsmodels.stats.proportion.proportion_confint, method='wilson'), overall and within each "
    "area and demographic group. Personas are simulated, not independently sampled people: the "
    "intervals describe sampling noise in the simulation, not the uncertainty of a real survey."
)
BREAKDOWN_DIMENSIONS = ("area", *DIMENSIONS)


def _option_rows(counts: dict, n: int, options: list) -> list[dict]:
    rows = []
    for option in options:
        count = int(counts.get(option.id, 0))
        low, high = proportion_confint(count, n, alpha=1 - CONFIDENCE, method="wilson")
        rows.append(
            {
                "code": option.code,
                "label": option.label,
                "count": count,
                "share": count / n,
                "ci_low": float(low),
                "ci_high": float(high),
            }
        )
    return rows


def _answers_frame(run: Run) -> pd.DataFrame:
    """One row per stored answer: persona, item, option, and the persona's area and demographics."""
    return pd.DataFrame.from_records(
        Answer.objects.filter(run=run).values_list(
            "persona_id",
            "item_id",
            "option_id",
            "persona__area_id",
            *(f"persona__{d}" for d in DIMENSIONS),
        ),
        columns=["persona_id", "item_id", "option_id", "area", *DIMENSIONS],
    )


def _breakdown(answers: pd.DataFrame, dimension: str, labels: dict, options: list) -> list[dict]:
    """The option rows within each category of one dimension that has answers, in the
    dimension's own order (areas by id)."""
    if answers.empty:
        return []
    order = list(labels) if dimension != "area" else sorted(answers["area"].unique())
    grouped = dict(list(answers.groupby(dimension)))
    groups = []
    for category in order:
        group = grouped.get(category)
        if group is None or group.empty:
            continue
        groups.append(
            {
                "category": category,
                "label": labels.get(category, category),
                "n": len(group),
                "options": _option_rows(
                    group["option_id"].value_counts().to_dict(), len(group), options
                ),
            }
        )
    return groups


class SingleChoiceAnalyzer(Analyzer):
    """Every item is a single choice among its options."""

    method = METHOD

    def results(self, *, run: Run) -> dict:
        """Per item: the answers' count, each option's share with its interval, and the same
        within every area and demographic group."""
        items = list(Item.objects.filter(study_id=run.study_id).prefetch_related("options"))
        frame = _answers_frame(run)
        area_names = dict(
            Area.objects.filter(id__in=frame["area"].unique().tolist()).values_list("id", "name")
        )
        labels = {"area": area_names, **DIMENSIONS}
        results_items = []
        for item in items:
            options = list(item.options.all())
            answers = frame[frame["item_id"] == item.id]
            n = len(answers)
            results_items.append(
                {
                    "item_id": item.id,
                    "code": item.code,
                    "text": item.text,
                    "n": n,
                    "options": _option_rows(
                        answers["option_id"].value_counts().to_dict(), n, options
                    )
                    if n
                    else [],
                    "breakdowns": {
                        dimension: _breakdown(answers, dimension, labels[dimension], options)
                        for dimension in BREAKDOWN_DIMENSIONS
                    },
                }
            )
        return {
            "run_id": run.id,
            "backend": run.backend,
            "personas_answered": int(frame["persona_id"].nunique()),
            "confidence": CONFIDENCE,
            "method": self.method,
            "items": results_items,
        }
