"""Writes of the validation app: a held-out validation run, computed and stored.

The design itself (the split, the methods, the scores) is `validation.holdout`; the area-level
designs, stored and run by a worker, are `validation.designs`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from polls.models import Question
from validation.holdout import holdout_report
from validation.llm import MAX_PERSONAS
from validation.models import ValidationRun
from validation.versions import versions_of


@transaction.atomic
def validation_run_holdout(
    *,
    question: Question,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    min_cell: int | None = None,
    min_group: int = 30,
    llm: dict | None = None,
    llm_personas: int = MAX_PERSONAS,
    created_by=None,
) -> ValidationRun:
    """Hold out part of a question's respondents, predict them (with the LLM backend too when
    `llm` is a backend config), store the accuracy report."""
    min_cell = min_cell or settings.POLL_CELL_MIN_RESPONDENTS
    report = holdout_report(
        question=question,
        holdout_fraction=holdout_fraction,
        seed=seed,
        min_cell=min_cell,
        min_group=min_group,
        llm=llm,
        llm_personas=llm_personas,
    )
    llm_model = report.metrics["llm"]["model"] if llm is not None else ""
    return ValidationRun.objects.create(
        question=question,
        method="poll_cell+llm" if llm is not None else "poll_cell",
        params={"llm": llm, "llm_personas": llm_personas} if llm is not None else {},
        holdout_fraction=holdout_fraction,
        seed=seed,
        min_cell=min_cell,
        n_train=report.n_train,
        n_test=report.n_test,
        metrics=report.metrics,
        created_by=created_by,
        **versions_of(question, llm_model=llm_model),
    )
