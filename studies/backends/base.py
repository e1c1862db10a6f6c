"""The respondent-backend interface every backend implements.

A backend answers one item for one persona and returns an `AnswerDraft`; the pipeline stores it.
The pipeline never asks which backend produced an answer, so an LLM backend or a fitted
statistical model plugs in by registering here, without touching the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from personas.models import Persona
    from studies.models import Item, Run, Study


@dataclass(frozen=True)
class AnswerDraft:
    option_id: int
    reasoning: str
    probabilities: dict[str, float] | None = None  # option code -> probability, when known


class RespondentBackend(Protocol):
    name: str
    label: str

    @classmethod
    def study_problems(cls, study: Study) -> list[str]:
        """Why this backend cannot answer the study (empty when it can)."""
        ...

    def __init__(self, run: Run, items: list[Item]) -> None: ...

    def answer(self, *, persona: Persona, item: Item) -> AnswerDraft: ...


_REGISTRY: dict[str, type[RespondentBackend]] = {}


def backend_register(cls: type[RespondentBackend]) -> type[RespondentBackend]:
    _REGISTRY[cls.name] = cls
    return cls


def backend_get(name: str) -> type[RespondentBackend]:
    from studies.backends import poll_cell  # noqa: F401  (registers itself)

    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(name) from None


def backend_names() -> list[str]:
    from studies.backends import poll_cell  # noqa: F401

    return sorted(_REGISTRY)
