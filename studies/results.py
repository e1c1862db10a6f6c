"""A run's results, computed from its stored answers by the analyzer of its study's kind
(`studies/analyzers/`), with the run's quality report (`studies.quality`, seed 004 §9.2) beside
them."""

from __future__ import annotations

from studies.analyzers.questionnaire import answers_frames_shared
from studies.analyzers.registry import ANALYZERS
from studies.models import Run, Study
from studies.quality import run_quality


def run_results_compute(*, run: Run) -> dict:
    """Results for every item of the run, from its stored answers, and their quality checks."""
    kind = Study.objects.values_list("kind", flat=True).get(id=run.study_id)
    with answers_frames_shared():  # the answers are read from the database once
        results = ANALYZERS[kind]().results(run=run)
        results["quality"] = run_quality(run)
    return results
