"""Single-choice results: the share of personas choosing each option, with 95 % Wilson intervals,
overall and by area and demographic group."""

from __future__ import annotations

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from environment.categories import DIMENSIONS
from environment.models import Area
from studies.analyzers.base import Analyzer
from studies.analyzers.model_estimates import item_model_estimate
from studies.models import Answer, Item, Run

CONFIDENCE = 0.95
METHOD = (
    "Share of personas choosing each option, with a 95% Wilson score interval per option "
    "(statsmodels.stats.proportion.proportion_confint, method='wilson'), overall and within each "
    "area and demographic group. Personas are simulated, not independently sampled people: the "
    "intervals describe sampling noise in the simulation, not the uncertainty of a real survey."
)
BREAKDOWN_DIMENSIONS = ("area", *DIMENSIONS)


def _option_rows(answers: pd.DataFrame, options: list) -> list[dict]:
    """Each option's count and share with its Wilson interval. Weighted answers (a question asked
    of part of its sample) give weighted shares, with the interval on Kish's effective sample size
    (Σw)² / Σw²."""
    n = len(answers)
    counts = answers["option_id"].value_counts().to_dict()
    weights = answers["weight"]
    weighted = bool((weights != 1.0).any())
    total = float(weights.sum())
    n_eff = total**2 / float((weights**2).sum()) if weighted and total > 0 else n
    sums = answers.groupby("option_id")["weight"].sum().to_dict() if weighted else counts
    rows = []
    for option in options:
        count = int(counts.get(option.id, 0))
        share = float(sums.get(option.id, 0)) / total if weighted else count / n
        low, high = proportion_confint(share * n_eff, n_eff, alpha=1 - CONFIDENCE, method="wilson")
        rows.append(
            {
                "code": option.code,
                "label": option.label,
                "count": count,
                "share": share,
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
            "weight",
            "persona__area_id",
            "persona__area__state",
            "persona__age",
            *(f"persona__{d}" for d in DIMENSIONS),
        ),
        columns=[
            "persona_id",
            "item_id",
            "option_id",
            "weight",
            "area",
            "state",
            "age",
            *DIMENSIONS,
        ],
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
                "options": _option_rows(group, options),
            }
        )
    return groups


class SingleChoiceAnalyzer(Analyzer):
    """Every item is a single choice among its options."""

    method = METHOD

    def results(self, *, run: Run) -> dict:
        """Per item: the answers' count, each option's share with its interval, and the same
        within every area and demographic group."""
        items = list(
            Item.objects.filter(study_id=run.study_id)
            .select_related("poll_question")
            .prefetch_related("options")
        )
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
            entry: dict = {}
            question = item.poll_question
            if n and bool((answers["weight"] != 1.0).any()) and question is not None:
                entry["describes"] = (
                    f"{question.universe} (personas weighted by their modelled probability of "
                    "belonging)"
                )
            if run.backend == "poll_model" and n:
                entry["model_estimate"] = item_model_estimate(
                    run=run, item=item, answers=answers, labels=labels
                )
            results_items.append(
                {
                    "item_id": item.id,
                    "code": item.code,
                    "text": item.text,
                    "n": n,
                    "options": _option_rows(answers, options) if n else [],
                    "breakdowns": {
                        dimension: _breakdown(answers, dimension, labels[dimension], options)
                        for dimension in BREAKDOWN_DIMENSIONS
                    },
                }
                | entry
            )
        return {
            "run_id": run.id,
            "backend": run.backend,
            "personas_answered": int(frame["persona_id"].nunique()),
            "confidence": CONFIDENCE,
            "method": self.method,
            "items": results_items,
        }
