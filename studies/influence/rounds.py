"""The schedule of the deliberation rounds' calls, and running them (`_Rounds`), for
`studies.influence.deliberation.deliberate`: bookkeeping and the calls' event loop, no database.

All personas of a round read the previous round's answers, so the order in which they are asked
does not matter, and there is no barrier between rounds: a persona's call of round r goes as soon
as it and the ties it hears have answered round r − 1 (`_Schedule`), while others still answer
round r − 1. That only happens when round r is sure to run: in a run without a budget, once a
reply of round r − 1 changed an answer (so the rounds cannot stop for lack of change) and the run
is not cancelled. With a budget, round r starts when round r − 1 is complete and its cost is
known. The rounds stop early once a round changes nobody's answer and has no failure (the next
would read the same answers).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from asgiref.sync import async_to_sync

from llm import loops
from llm.errors import LLMError, ProviderError
from llm.gateway import CallBuffer
from personas.engine.results import PersonaResult
from studies.influence.prompt import Statement


@dataclass
class _Tally:
    """One round's replies so far: how many, changed and failed answers, usage and calls."""

    replies: int = 0
    changed: int = 0
    failed: int = 0
    usage: PersonaResult = field(default_factory=lambda: PersonaResult(narrative_source="llm"))
    calls: CallBuffer = field(default_factory=CallBuffer)


class _Schedule:
    """Which calls may go (bookkeeping only, no I/O). Persona i's call of round r reads round
    r − 1's statements of i and of the ties it hears, so it may go once round r is open and
    those have answered round r − 1: no barrier waits for personas i does not hear. Every call
    still reads exactly the round before, as with a barrier between rounds."""

    def __init__(
        self, *, first: list[Statement], asked: list[int], hears: list[np.ndarray], rounds: int
    ):
        self.rounds = rounds
        self.asked = asked
        self.first = first
        self.unasked = set(range(len(first))) - set(asked)
        # Round r's statement of each persona (None until answered); the unasked keep theirs.
        self.statements: list[list[Any]] = [list(first)]
        self.tallies: list[_Tally] = [_Tally()]
        self.needs = {i: sorted({i, *(int(j) for j in hears[i])}) for i in asked}
        self.dependents: dict[int, list[int]] = {}
        for i, needed in self.needs.items():
            for j in needed:
                self.dependents.setdefault(j, []).append(i)
        self.waiting: list[dict[int, int]] = [{}]
        self.opened = 0  # the last round opened
        self.complete = 0  # the last round every asked persona has answered

    def open(self, round_number: int) -> list[int]:
        """Open the next round; the personas whose call of it may go now."""
        assert round_number == self.opened + 1 <= self.rounds
        self.opened = round_number
        before = self.statements[round_number - 1]
        self.statements.append(
            [self.first[i] if i in self.unasked else None for i in range(len(before))]
        )
        self.tallies.append(_Tally())
        waiting = {i: sum(before[j] is None for j in self.needs[i]) for i in self.asked}
        self.waiting.append(waiting)
        return [i for i in self.asked if waiting[i] == 0]

    def answered(
        self, i: int, round_number: int, value: Any, result: PersonaResult, calls: CallBuffer
    ) -> list[int]:
        """Record persona i's reply in the round (None when its call failed: it keeps its
        answer); the calls of the next round that may go now."""
        before = self.statements[round_number - 1][i]
        statement = before if value is None else Statement(value.answer, value.reasoning)
        self.statements[round_number][i] = statement
        tally = self.tallies[round_number]
        tally.replies += 1
        tally.failed += value is None
        tally.changed += statement.answer != before.answer
        tally.calls.extend(calls)
        _add(tally.usage, result)
        if tally.replies == len(self.asked):
            self.complete = round_number
        if self.opened <= round_number:
            return []
        waiting, ready = self.waiting[round_number + 1], []
        for d in self.dependents.get(i, ()):
            waiting[d] -= 1
            if not waiting[d]:
                ready.append(d)
        return ready


class _Rounds:
    """Every call of the rounds, up to `concurrency` in flight as tasks of one event loop
    (`llm.loops.CallsOnLoop`; their database work runs on this thread between replies), or one by
    one in this thread when 1, in round order.

    A round opens when the one before is complete (`may_open(r, early=False)`: cancelled,
    budget) and it changed an answer or had a failure; with `early` (a run without a budget)
    as soon as a reply of the round before changed an answer (`may_open(r, early=True)`:
    cancelled), since the rounds can then no longer stop for lack of change. `round_done(r)`
    is called once round r is complete. `run` returns why the rounds stopped early ("" if not)
    and raises a provider's refusal as an LLMError naming the round."""

    def __init__(
        self,
        *,
        schedule: _Schedule,
        ask: Callable[[int, int], Awaitable[tuple[int, Any, tuple[PersonaResult, CallBuffer]]]],
        concurrency: int,
        may_open: Callable[..., str],
        round_done: Callable[[int], None],
        early: bool,
    ):
        self.schedule, self.ask, self.may_open, self.round_done = (
            schedule, ask, may_open, round_done,
        )  # fmt: skip
        self.concurrency = concurrency
        self.early = early and concurrency > 1
        self.calls: loops.CallsOnLoop | None = None
        self.todo: collections.deque[tuple[int, int]] = collections.deque()  # one by one
        self.in_flight = 0
        self.stopped = ""
        self.failure: tuple[int, BaseException] | None = None

    def run(self) -> str:
        with contextlib.ExitStack() as stack:
            if self.concurrency > 1:
                self.calls = stack.enter_context(loops.CallsOnLoop(concurrency=self.concurrency))
            self._open(1, early=False)
            while self.in_flight:
                if self.calls is not None:
                    (i, r), outcome, error = self.calls.result()
                else:
                    i, r = self.todo.popleft()  # FIFO: round by round
                    outcome, error = self._call(i, r)
                self.in_flight -= 1
                if self.failure is None and error is not None:
                    self.failure = (r, error)
                if self.failure is None:
                    self._reply(i, r, outcome)
                # after a failure: let the calls in flight finish, start no more
        if self.failure is not None:
            r, error = self.failure
            if isinstance(error, ProviderError):
                raise LLMError(f"deliberation round {r}: {error}") from error
            raise error
        return self.stopped

    def _call(self, i: int, r: int) -> tuple[Any, BaseException | None]:
        try:
            return async_to_sync(self.ask)(i, r), None
        except Exception as exc:  # re-raised by run once the calls in flight are done
            return None, exc

    def _submit(self, personas: list[int], r: int) -> None:
        for i in personas:
            if self.calls is not None:
                self.calls.submit((i, r), self.ask, i, r)
            else:
                self.todo.append((i, r))
            self.in_flight += 1

    def _more(self, r: int) -> bool:
        """Whether round r + 1 is still to be decided on."""
        return r < self.schedule.rounds and self.schedule.opened == r and not self.stopped

    def _open(self, r: int, *, early: bool) -> None:
        self.stopped = self.may_open(r, early=early)
        if self.stopped:
            return
        self._submit(self.schedule.open(r), r)
        if not self.schedule.asked:  # nobody has ties: the round asks nobody
            self.schedule.complete = r
            self._complete(r)

    def _reply(self, i: int, r: int, outcome: Any) -> None:
        _, value, (result, calls) = outcome
        self._submit(self.schedule.answered(i, r, value, result, calls), r + 1)
        if self.early and self._more(r) and self.schedule.tallies[r].changed:
            self._open(r + 1, early=True)
        if self.schedule.complete == r:
            self._complete(r)

    def _complete(self, r: int) -> None:
        self.round_done(r)
        if not self._more(r):
            return
        tally = self.schedule.tallies[r]
        if tally.changed or tally.failed:
            self._open(r + 1, early=False)
        else:  # the next round would read the same answers
            self.stopped = f"nobody changed their answer in round {r}"


def _add(total: PersonaResult, part: PersonaResult) -> None:
    total.llm_calls += part.llm_calls
    total.cached_calls += part.cached_calls
    total.input_tokens += part.input_tokens
    total.output_tokens += part.output_tokens
    total.cost = None if total.cost is None or part.cost is None else total.cost + part.cost
