"""The analyzer of each kind of study: a new analysis is a module of this package and its kinds'
entries here. Every kind is a questionnaire whose items are analysed by their types."""

from __future__ import annotations

from studies.analyzers.base import Analyzer
from studies.analyzers.market import MarketAnalyzer
from studies.analyzers.policy import PolicySupportAnalyzer
from studies.analyzers.questionnaire import QuestionnaireAnalyzer, SingleChoiceAnalyzer
from studies.models import Study

__all__ = ["ANALYZERS", "QuestionnaireAnalyzer", "SingleChoiceAnalyzer"]

ANALYZERS: dict[Study.Kind, type[Analyzer]] = {kind: QuestionnaireAnalyzer for kind in Study.Kind}
# Policy figures are added only for studies made by the political endpoints (a PolicyAnalysis).
ANALYZERS |= {
    k: PolicySupportAnalyzer for k in (Study.Kind.POLICY_SUPPORT, Study.Kind.MESSAGE_TEST)
}
ANALYZERS[Study.Kind.PRODUCT_PRICING] = MarketAnalyzer
