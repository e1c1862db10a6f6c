"""The respondent-backend contract: the base class every backend subclasses.

A backend answers every item of a run for one persona and returns a `PersonaResult`; the pipeline
stores it. The pipeline never asks which backend produced a result, so a new backend (a language
model, a fitted statistical model) is a subclass listed in `studies.backends.registry.BACKENDS`,
without touching the pipeline.

A subclass must set `name` and `label` and implement `answer_persona`. Everything else has a
default that fits a backend which costs nothing, takes no configuration and can answer any study;
override what does not fit.

The result types are defined with the persona engine (`personas.engine.results`), which builds
them too; they are re-exported here for backends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from personas.engine.results import AnswerDraft, PersonaResult

if TYPE_CHECKING:
    from personas.models import Persona, Population
    from studies.models import Condition, Item, Run, Study

__all__ = ["AnswerDraft", "BackendConfigError", "PersonaResult", "RespondentBackend"]


class BackendConfigError(ValueError):
    """A run's `backend_config` the backend cannot work with; `fields` names each wrong field
    (as the API error's `fields`) with what is wrong with it."""

    def __init__(self, message: str, fields: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.fields = fields


class RespondentBackend:
    """Answers a run's items for one persona at a time.

    The class is asked about a run before it starts (`config_problems`, `study_problems`,
    `default_chunk_size`, `estimate`); an instance is made for each chunk of a run and answers
    that chunk's personas (`answer_persona`).
    """

    #: The key a run names the backend by (`Run.backend`, the API's `backend`). Required.
    name: ClassVar[str]
    #: What the pages call the backend. Required.
    label: ClassVar[str]
    #: Personas one chunk answers at once, on threads of its own; 1 answers them one after
    #: another. An instance may set it from the run's config (the LLM backend does).
    concurrency: int = 1
    #: True on a class that only shares code between backends (not itself a backend).
    abstract: ClassVar[bool] = False
    #: Personas written per transaction, and so between two progress messages.
    write_batch: ClassVar[int] = 50
    #: With it, the personas waiting are also written once this many seconds have passed since
    #: the last write (`write_batch` is then the most written at once).
    write_interval: ClassVar[float | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):  # a shared base of several backends
            return
        missing = [a for a in ("name", "label") if not getattr(cls, a, "")]
        if missing:
            raise TypeError(f"{cls.__name__} must set {' and '.join(missing)}")

    @classmethod
    def config_problems(cls, config: dict) -> BackendConfigError | None:
        """What is wrong with a run's `backend_config`, or None when the backend can work with it.

        Default: None (a backend that takes no configuration ignores it)."""
        return None

    @classmethod
    def study_problems(cls, study: Study) -> list[str]:
        """Why this backend cannot answer the study, each reason a sentence a user can act on.

        Default: no reasons."""
        return []

    @classmethod
    def default_chunk_size(cls, config: dict) -> int | None:
        """Personas per chunk task when the run does not say (a chunk must finish well inside the
        task time limit). Called with a config `config_problems` may yet refuse.

        Default: None, for settings.RUN_CHUNK_SIZE."""
        return None

    @classmethod
    def spreads_over_processes(cls, config: dict) -> bool:
        """Whether a run's chunks may be answered by more than one process when no Celery
        workers do it (`studies.lanes`): worth it for a backend whose personas wait on the network
        while one process's interpreter lock is the bottleneck.

        Default: False."""
        return False

    @classmethod
    def estimate(
        cls,
        *,
        study: Study,
        population: Population,
        config: dict,
        participants: list[int] | None = None,
    ) -> dict | None:
        """What a run would cost, before it starts (`Run.cost_estimate`): over `participants`
        (persona ids, in position order) when the study's criteria and quotas select them, else
        over the whole population.

        Default: None, for a backend that costs nothing."""
        return None

    def __init__(self, run: Run, items: list[Item]) -> None:
        """Made once per chunk with the run and its items (options prefetched): read here what
        every persona of the chunk shares."""
        self.run = run
        self.items = items
        # Persona id -> the condition it was assigned to, for runs of studies with conditions;
        # the pipeline fills it for each chunk before asking for answers.
        self.assigned: dict[int, Condition] = {}

    def condition_for(self, persona: Persona) -> Condition | None:
        """The condition the persona was assigned to in this run, or None (no conditions)."""
        return self.assigned.get(persona.id)

    def answer_persona(self, persona: Persona) -> PersonaResult:
        """Answer every item of the run for one persona. Thread-safe when `concurrency` > 1.

        A persona that cannot be answered is a result with `failed_step` and `failure`, and the
        run goes on; an exception fails the whole run (for what concerns every persona, such as a
        missing API key)."""
        raise NotImplementedError(f"{type(self).__name__} must implement answer_persona")
