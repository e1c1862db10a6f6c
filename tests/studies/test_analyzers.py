"""The analyzer registry: every kind of study a user can choose has an analysis."""

from __future__ import annotations

from studies.analyzers.base import Analyzer
from studies.analyzers.registry import ANALYZERS
from studies.models import Study


def test_every_study_kind_has_an_analyzer():
    assert set(ANALYZERS) == set(Study.Kind)
    for analyzer in ANALYZERS.values():
        assert issubclass(analyzer, Analyzer)
        assert analyzer.method
