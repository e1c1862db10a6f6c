"""The analyzer contract: how a run's stored answers become its results, for one kind of study.

The results are stored on the run (`Run.results`) when it finishes and served as they are. An
analysis for a new kind of study (prices, policy trade-offs, message tests) is a subclass in a
module of this package and an entry in `studies.analyzers.registry.ANALYZERS`; the pipeline asks
the registry and never which analysis it got.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from studies.models import Run


class Analyzer:
    """Computes a run's results from its stored answers."""

    #: How the figures are computed and what they mean, in words a reader of the results can
    #: check; stored with the results (`method`).
    method: ClassVar[str]

    def results(self, *, run: Run) -> dict:
        """The run's results: a JSON-ready dict with at least `run_id`, `backend`, `method` and
        `personas_answered` (the personas with an answer stored; the pipeline counts processed
        personas from it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement results")
