"""Aggregating a run's answers into shares with 95 % Wilson intervals, overall and by group."""

from __future__ import annotations

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from environment.categories import DIMENSIONS
from environment.models import Area
from studies.models import Answer, Item, Run

CONFIDENCE = 0.95
METHOD = (
    "Share of personas choosing each option, with a 95% Wilson score interval per option "
    "(statsmodels.stats.proportion.proportion_confint, method='wilson'), overall and within each "
    "area and demographic group. Personas are simulated, not independently sampled people: the "
    "intervals describe sampling noise in the simulation, not the uncertainty of a real survey."
)
BREAKDOWN_DIMENSIONS = ("area", *DIMENSIONS)


def _option_rows(counts: dict[int, int], n: int, options: list) -> list[dict]:
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


def run_results_compute(*, run: Run) -> dict:
    """Results for every item of the run, from its stored answers."""
    items = list(Item.objects.filter(study_id=run.study_id).prefetch_related("options"))
    frame = pd.DataFrame.from_records(
        Answer.objects.filter(run=run).values_list(
            "persona_id",
            "item_id",
            "option_id",
            "persona__area_id",
            *(f"persona__{d}" for d in DIMENSIONS),
        ),
        columns=["persona_id", "item_id", "option_id", "area", *DIMENSIONS],
    )
    area_names = dict(
        Area.objects.filter(id__in=frame["area"].unique().tolist()).values_list("id", "name")
    )
    labels = {"area": area_names, **DIMENSIONS}
    results_items = []
    for item in items:
        options = list(item.options.all())
        sub = frame[frame["item_id"] == item.id]
        n = len(sub)
        entry = {
            "item_id": item.id,
            "code": item.code,
            "text": item.text,
            "n": n,
            "options": _option_rows(sub["option_id"].value_counts().to_dict(), n, options)
            if n
            else [],
            "breakdowns": {},
        }
        for dimension in BREAKDOWN_DIMENSIONS:
            groups = []
            order = list(labels[dimension]) if dimension != "area" else sorted(sub["area"].unique())
            grouped = {k: g for k, g in sub.groupby(dimension)} if n else {}
            for category in order:
                group = grouped.get(category)
                if group is None or group.empty:
                    continue
                groups.append(
                    {
                        "category": category,
                        "label": labels[dimension].get(category, category),
                        "n": len(group),
                        "options": _option_rows(
                            group["option_id"].value_counts().to_dict(), len(group), options
                        ),
                    }
                )
            entry["breakdowns"][dimension] = groups
        results_items.append(entry)
    return {
        "run_id": run.id,
        "backend": run.backend,
        "personas_answered": int(frame["persona_id"].nunique()),
        "confidence": CONFIDENCE,
        "method": METHOD,
        "items": results_items,
    }
