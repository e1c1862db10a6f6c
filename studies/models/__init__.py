"""The studies app's models, by what they hold: studies (`studies.py`), runs and what they store
(`runs.py`), the analyses built on runs (`analyses.py`)."""

from studies.models.analyses import InfluenceSimulation, MarketAnalysis, PolicyAnalysis
from studies.models.runs import (
    Answer,
    HeldRun,
    Run,
    RunParticipant,
    RunPersona,
    RunPersonaQuerySet,
)
from studies.models.studies import Condition, Item, ItemOption, Study

__all__ = [
    "Answer",
    "Condition",
    "HeldRun",
    "InfluenceSimulation",
    "Item",
    "ItemOption",
    "MarketAnalysis",
    "PolicyAnalysis",
    "Run",
    "RunParticipant",
    "RunPersona",
    "RunPersonaQuerySet",
    "Study",
]
