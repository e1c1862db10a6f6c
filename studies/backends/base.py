"""The respondent-backend interface every backend implements.

A backend answers one item for one persona and returns an `AnswerDraft`; the pipeline stores it.
The pipeline never asks which backend produced an answer, so an LLM backend or a fitted
statistical model plugs in by registering here, without touching the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from personas.models import Persona
    from studies.models import Item, Run, Study


@dataclass(frozen=True)
class AnswerDraft:
    option_id: int
    reasoning: str
    probabilities: dict[str, float] | None = None  # option code -> probability, when known
    think_aloud: str = ""
    time_on_task_seconds: float | None = None


@dataclass
class PersonaResult:
    """Everything a backend produced for one persona: its answers (item id -> draft), the
    artefacts stored on its RunPersona record, what it used, or the step that failed and why."""

    answers: dict[int, AnswerDraft] = field(default_factory=dict)
    narrative_source: str = "structured_profile"
    profile: dict = field(default_factory=dict)
    context: dict | None = None
    consistency: dict | None = None
    experience: dict | None = None
    response: dict | None = None
    llm_calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = Decimal("0")
    failed_step: str = ""
    failure: str = ""
    # Model calls made for the persona and not yet written (an `llm.gateway.CallBuffer`): the
    # pipeline writes them with the persona's record, in the same transaction.
    calls: Any = None

    @property
    def ok(self) -> bool:
        return not self.failed_step


class RespondentBackend(Protocol):
    name: str
    label: str
    # Personas answered at once by one chunk (threads); 1 answers them one after another.
    concurrency: int

    @classmethod
    def study_problems(cls, study: Study) -> list[str]:
        """Why this backend cannot answer the study (empty when it can)."""
        ...

    def __init__(self, run: Run, items: list[Item]) -> None: ...

    def answer_persona(self, persona: Persona) -> PersonaResult:
        """Answer every item of the run for one persona; thread-safe when concurrency > 1."""
        ...

    @classmethod
    def estimate(cls, *, study: Study, population: Any, config: dict) -> dict | None:
        """The cost estimate of a run before it starts (None for a backend that costs nothing)."""
        ...


_REGISTRY: dict[str, type[RespondentBackend]] = {}


def backend_register(cls: type[RespondentBackend]) -> type[RespondentBackend]:
    _REGISTRY[cls.name] = cls
    return cls


def backend_get(name: str) -> type[RespondentBackend]:
    from studies.backends import llm, poll_cell  # noqa: F401  (register themselves)

    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(name) from None


def backend_names() -> list[str]:
    from studies.backends import llm, poll_cell  # noqa: F401

    return sorted(_REGISTRY)
