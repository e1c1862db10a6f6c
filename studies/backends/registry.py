"""Every respondent backend a run can name, by that name: a new backend is a module of this package
and one entry here."""

from __future__ import annotations

from studies.backends.base import RespondentBackend
from studies.backends.llm import LLMBackend
from studies.backends.poll_cell import PollCellBackend
from studies.backends.poll_model import PollModelBackend

BACKENDS: dict[str, type[RespondentBackend]] = {
    PollModelBackend.name: PollModelBackend,
    PollCellBackend.name: PollCellBackend,
    LLMBackend.name: LLMBackend,
}
