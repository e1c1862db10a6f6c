"""The analyzer of each kind of study: a new analysis is a module of this package and its kinds'
entries here. Every kind is single-choice for now."""

from __future__ import annotations

from studies.analyzers.base import Analyzer
from studies.analyzers.single_choice import SingleChoiceAnalyzer
from studies.models import Study

ANALYZERS: dict[Study.Kind, type[Analyzer]] = {
    Study.Kind.POLICY_SUPPORT: SingleChoiceAnalyzer,
    Study.Kind.MESSAGE_TEST: SingleChoiceAnalyzer,
    Study.Kind.PRODUCT_PRICING: SingleChoiceAnalyzer,
    Study.Kind.FEATURE_PREFERENCE: SingleChoiceAnalyzer,
    Study.Kind.QUESTIONNAIRE: SingleChoiceAnalyzer,
    Study.Kind.MULTI_AGENT: SingleChoiceAnalyzer,
}
