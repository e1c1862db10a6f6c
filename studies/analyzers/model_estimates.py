"""Model-based estimates for runs of the poll-model backend, with intervals that carry the model's
uncertainty (not only the personas' sampling noise)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from environment.categories import DIMENSIONS
from polls.model.intervals import DRAWS, group_estimates
from polls.model.store import poll_model_get
from studies.analyzers.item_type import OptionTable
from studies.models import Item, Run

METHOD = (
    "Model-based estimate: the mean of the personas' modelled answer probabilities (multilevel "
    "regression on the poll, poststratified by the census-drawn personas), weighted by each "
    "persona's modelled probability of belonging to the question's universe when it has one. "
    f"The 95% interval comes from {DRAWS} replicates, each a draw of the model's parameters from "
    "their posterior (Laplace approximation) combined with a Poisson bootstrap of the personas: "
    "it carries the model's uncertainty and the personas' sampling noise. It does not carry the "
    "poll's own errors (coverage, nonresponse); validation measures how often such intervals "
    "cover real results."
)


def item_model_estimate(
    *,
    run: Run,
    item: Item,
    answers: pd.DataFrame,
    labels: dict,
    tables: Mapping[str, OptionTable] | None = None,
) -> dict:
    """The item's model-based estimate overall and by area and demographic group (grouped by
    the item's option tables' categories where it has them)."""
    options = list(item.options.all())
    fitted = poll_model_get(item.poll_question, options=[o.poll_option_id for o in options])
    by_poll_option = {o.poll_option_id: o for o in options}
    ordered = [by_poll_option[p] for p in fitted.options]
    profiles = answers.assign(age_min=answers["age"], age_max=answers["age"])
    estimates = group_estimates(
        fitted,
        profiles,
        dimensions=["area", *DIMENSIONS],
        weights=answers["weight"].to_numpy(),
        seed=int(run.seed) % (2**32),
        factorized={d: (t.codes, t.values) for d, t in (tables or {}).items()},
    )

    def rows(estimate: dict) -> list[dict]:
        found = {
            o.code: (float(s), float(lo), float(hi))
            for o, s, lo, hi in zip(
                ordered, estimate["shares"], estimate["low"], estimate["high"], strict=True
            )
        }
        return [
            {
                "code": o.code,
                "label": o.label,
                "share": found[o.code][0],
                "ci_low": found[o.code][1],
                "ci_high": found[o.code][2],
            }
            for o in options
        ]

    question = item.poll_question
    universe = question.universe if question and question.universe else ""
    described = (
        universe if universe and run.study.universe == run.study.Universe.QUESTION else "all adults"
    )
    return {
        "describes": described,
        "options": rows(estimates["all"][0]),
        "breakdowns": {
            dimension: [
                {
                    "category": e["category"],
                    "label": labels[dimension].get(e["category"], e["category"]),
                    "n": e["n"],
                    "options": rows(e),
                }
                for e in sorted(
                    estimates[dimension],
                    key=lambda e: (
                        list(labels[dimension]).index(e["category"])
                        if e["category"] in labels[dimension] and dimension != "area"
                        else str(e["category"])
                    ),
                )
            ]
            for dimension in ["area", *DIMENSIONS]
        },
        "method": METHOD,
    }
