"""What answering one persona yields, whoever answered it: its answers, the artefacts stored on its
record, the model calls it used, or the step that failed and why.

The persona engine builds these and every respondent backend of `studies.backends` returns them to
the run pipeline, which writes them all the same way. They are defined here, below both, because
the studies app depends on the persona engine and never the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm.gateway import CallBuffer
    from llm.types import AttemptUsage

STRUCTURED_SOURCE = "structured_profile"


@dataclass(frozen=True)
class AnswerDraft:
    """One item's answer, before the pipeline stores it as an `Answer`.

    The answer's value is in the field its item type uses: `option_id` (single choice, Likert),
    `choices` (option codes chosen, or ranked first to last), `number` (numeric) or `text` (free
    text); the others stay empty."""

    option_id: int | None
    reasoning: str
    choices: list[str] | None = None
    number: float | None = None
    text: str = ""
    probabilities: dict[str, float] | None = None  # option code -> probability, when known
    think_aloud: str = ""
    time_on_task_seconds: float | None = None
    # The persona's weight in the item's results (its probability of being in the question's
    # universe); 1 for a question asked of everyone.
    weight: float = 1.0


@dataclass
class PersonaResult:
    """Everything produced for one persona: its answers (item id -> draft), the artefacts stored on
    its RunPersona record, the model calls it used, or the step that failed and why."""

    answers: dict[int, AnswerDraft] = field(default_factory=dict)
    # Who wrote the persona's context: the structured profile (offline), a model ("llm") or the
    # pool the persona came from ("pool").
    narrative_source: str = STRUCTURED_SOURCE
    profile: dict = field(default_factory=dict)
    context: dict | None = None
    consistency: dict | None = None
    experience: dict | None = None
    response: dict | None = None
    llm_calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    # None once any call had no price: an unknown cost is never counted as zero.
    cost: Decimal | None = Decimal("0")
    failed_step: str = ""
    failure: str = ""
    # Model calls made for the persona and not yet written: the pipeline writes them with the
    # persona's record, in the same transaction.
    calls: CallBuffer | None = None

    @property
    def ok(self) -> bool:
        return not self.failed_step

    @property
    def usage_counts(self) -> dict[str, int]:
        """The call and token counts, keyed by the Run and RunPersona columns that add them up."""
        return {
            "llm_calls": self.llm_calls,
            "cached_calls": self.cached_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }

    def add_usage(self, attempts: Iterable[AttemptUsage]) -> None:
        """Count the attempts of one model call, the failed ones too: each was made and billed."""
        for a in attempts:
            self.llm_calls += 1
            self.cached_calls += int(a.cached)
            self.input_tokens += a.input_tokens
            self.output_tokens += a.output_tokens
            if self.cost is not None:
                self.cost = None if a.cost is None else self.cost + a.cost
