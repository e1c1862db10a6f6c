"""A run's results, computed from its stored answers by the analyzer of its study's kind
(`studies/analyzers/`)."""

from __future__ import annotations

from studies.analyzers.registry import ANALYZERS
from studies.models import Run, Study


def run_results_compute(*, run: Run) -> dict:
    """Results for every item of the run, from its stored answers."""
    kind = Study.objects.values_list("kind", flat=True).get(id=run.study_id)
    return ANALYZERS[kind]().results(run=run)
