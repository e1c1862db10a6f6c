"""Deliberation by language model (issue #15): rounds in which each persona reads what its ties
answered and why, and answers again with its reasons.

A multi-agent simulation on the LLM backend (`backend="llm"` on `/api/v1/multi-agent/simulate`)
first takes every persona through the persona engine (analyze → context → experience →
participation) as an ordinary run: that is round 0, each persona answering alone (influence off).
The run's finishing step (`studies.influence.compute`) then calls `deliberate`: for each round,
every persona with ties is shown its own context (the engine's), its own previous answer and
reasoning, and those of up to `neighbours_shown` of its ties, most influential first, and asked
again through the gateway (structured output, the response cache, the shared rate limits, the call
log). All personas of a round read the previous round's answers, so the order in which they are
asked does not matter, and there is no barrier between rounds: a persona's call of round r goes as
soon as it and the ties it hears have answered round r − 1 (`_Schedule`), while others still answer
round r − 1. That only happens when round r is sure to run: in a run without a budget, once a reply
of round r − 1 changed an answer (so the rounds cannot stop for lack of change) and the run is not
cancelled. With a budget, round r starts when round r − 1 is complete and its cost is known, as
below. A persona whose call fails (the provider's error after its retries, or a
reply that stays invalid) keeps its previous answer; the failure is counted. A persona without ties
hears nobody and is not asked: it keeps its answer.

Most influential first: the ties who share the most of the homophily attributes with the persona
(the tie's affinity), then the best-connected (degree), then position — the same order for the
same network, so the same seed gives the same prompts.

Costs are added to the run after every round, with the round's calls logged in the same
transaction, on a writer thread of its own so the next round's calls do not wait for the write
(the budget check of a round waits for it). The run's estimate includes the rounds (`deliberation_estimate`, added by
`studies.services.run_start` before the budget is checked). Between rounds, a round starts only
when the budget left covers it at the cost of the round before (the estimate's per round for the
first), and not when the run was cancelled; progress is reported after every round over the run's
WebSocket (a `stage` of the progress message). The rounds stop early once a round changes nobody's
answer and has no failure (the next would read the same answers).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import queue
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.template import Context, Engine
from pydantic import BaseModel, Field, create_model

from llm import aio, loops
from llm.errors import LLMError, ProviderError, StructuredOutputError
from llm.gateway import CallBuffer, PriceBook, acomplete_structured
from llm.types import LLMConfig, Message
from personas.engine.estimate import CHARS_PER_TOKEN, run_cost
from personas.engine.prompts import context_as_text
from personas.engine.results import PersonaResult
from studies.backends.llm import parse_config
from studies.influence.simulate import Wiring
from studies.models import Answer, Run, RunPersona
from studies.progress import Reporter

TEMPLATE_DIR = settings.BASE_DIR / "templates" / "influence"
SYSTEM = (
    "You are taking part in a social simulation as the person described. Stay in character: "
    "answer as this person would, after hearing the people they talk to. People may keep their "
    "view or change it; say honestly which and why."
)
# A typical reply (answer, a few sentences of reasoning) and a neighbour's reasoning, in tokens.
REPLY_TOKENS = 160
MAX_TOKENS = 400


@dataclass
class Statement:
    answer: str
    reasoning: str


@dataclass
class Deliberation:
    """Each persona's answer after every round (round 0 = the engine's), the rounds run, usage."""

    answers: list[list[str]]  # rounds + 1 lists of option codes, in persona order
    reasonings: list[str]  # each persona's last reasoning
    rounds: int
    stopped: str  # "" or why the rounds stopped before the rounds asked for
    failures: int
    usage: PersonaResult
    asked: int = 0  # personas asked each round: those with ties
    failures_by_round: list[int] = field(default_factory=list)


def neighbour_order(wiring: Wiring) -> list[np.ndarray]:
    """Each persona's ties, most influential first (shared attributes, degree, position)."""
    adjacency = wiring.network.adjacency.tocsr()
    degrees = wiring.network.degrees
    codes = wiring.codes
    ordered = []
    for i in range(adjacency.shape[0]):
        ties = adjacency.indices[adjacency.indptr[i] : adjacency.indptr[i + 1]]
        shared = ((codes[ties] == codes[i]) & (codes[ties] >= 0)).sum(axis=1)
        ordered.append(ties[np.lexsort((ties, -degrees[ties], -shared))])
    return ordered


def _schema(options: list[str]) -> type[BaseModel]:
    answer: Any = Literal[tuple(options)]  # the options are known only at run time
    return create_model(
        "Deliberation",
        answer=(answer, Field(description="your answer: one option code")),
        reasoning=(str, Field(min_length=1, description="why, in your own words, 1-4 sentences")),
        changed_mind=(bool, Field(description="true if your answer differs from before")),
    )


def _template(engine: Engine | None = None):
    return (engine or Engine(dirs=[str(TEMPLATE_DIR)], autoescape=False)).get_template(
        "deliberation.md"
    )


def deliberation_prompt(
    *,
    scenario: str,
    question: str,
    options: list[tuple[str, str]],
    context: str,
    own: Statement,
    heard: list[Statement],
    round_number: int,
    template=None,
) -> list[Message]:
    """The messages of one persona's call in one round."""
    labels = dict(options)
    text = (template or _template()).render(
        Context(
            {
                "scenario": scenario,
                "question": question,
                "options": options,
                "context": context,
                "own_answer": labels.get(own.answer, own.answer),
                "own_code": own.answer,
                "own_reasoning": own.reasoning,
                "heard": [
                    {"answer": labels.get(s.answer, s.answer), "reasoning": s.reasoning}
                    for s in heard
                ],
                "round": round_number,
            },
            autoescape=False,  # plain text: the ties' reasoning is shown as they wrote it
        )
    )
    return [
        Message(role="system", content=SYSTEM),
        Message(role="user", content=text.strip()),
    ]


def deliberation_estimate(
    *, config: dict, personas: int, rounds: int, neighbours: int, question: str, options: list
) -> dict:
    """What the rounds would cost: a prompt of the template with a typical context and
    `neighbours` typical statements, a typical reply, once per persona and round."""
    parsed = parse_config(config)
    filler = "x" * REPLY_TOKENS * CHARS_PER_TOKEN
    messages = deliberation_prompt(
        scenario=question,
        question=question,
        options=options,
        context="x" * 400 * CHARS_PER_TOKEN,
        own=Statement(options[0][0], filler),
        heard=[Statement(options[0][0], filler)] * neighbours,
        round_number=1,
    )
    tokens = sum(len(m["content"]) for m in messages) // CHARS_PER_TOKEN
    return run_cost(
        config=parsed.llm,
        steps=["deliberation"],
        prompt_tokens={"deliberation": [tokens]},
        output_tokens={"deliberation": [REPLY_TOKENS]},
        max_tokens={"deliberation": MAX_TOKENS},
        total=personas * rounds,
        sampled=1,
    )


def deliberate(
    *,
    run: Run,
    item_text: str,
    options: list[tuple[str, str]],
    persona_ids: list[int],
    wiring: Wiring,
    rounds: int,
    neighbours_shown: int,
    reporter: Reporter,
) -> Deliberation:
    """Run the rounds for the run's personas (in `persona_ids` order) over `wiring`."""
    parsed = parse_config(run.backend_config)
    config = parsed.llm
    if config.max_tokens < MAX_TOKENS:
        config = config.model_copy(update={"max_tokens": MAX_TOKENS})
    answered = Answer.objects.filter(run_id=run.id, persona_id__in=persona_ids)
    stated = dict(answered.values_list("persona_id", "reasoning"))
    chosen = dict(answered.values_list("persona_id", "option__code"))
    contexts = {
        pid: context_as_text(ctx) if ctx else ""
        for pid, ctx in RunPersona.objects.filter(
            run_id=run.id, persona_id__in=persona_ids
        ).values_list("persona_id", "context")
    }
    current = [Statement(chosen[pid], stated[pid]) for pid in persona_ids]
    order = neighbour_order(wiring)
    asked = [i for i in range(len(persona_ids)) if len(order[i])]
    asking = _Asking(
        run_id=run.id,
        persona_ids=persona_ids,
        order=order,
        neighbours_shown=neighbours_shown,
        scenario=(run.study.description or run.study.title).strip(),
        question=item_text,
        options=options,
        contexts=contexts,
        template=_template(),
        config=config,
        schema=_schema([code for code, _ in options]),
        max_attempts=parsed.engine.max_attempts,
        prices=PriceBook(config),
    )
    budget = Run.objects.values_list("budget", flat=True).get(id=run.id)
    schedule = _Schedule(
        first=current,
        asked=asked,
        hears=[order[i][:neighbours_shown] for i in range(len(persona_ids))],
        rounds=rounds,
    )
    threaded = parsed.engine.concurrency > 1 and not connection.in_atomic_block
    writer = _Writer(threaded=threaded)
    estimated = _estimated_round_cost(run, rounds)

    def store(round_number: int, tally: _Tally) -> None:
        """The round's calls logged and its cost added, then its progress message (on the
        writer's thread, while the next round's calls go on)."""
        _store_usage(run.id, tally.usage, tally.calls)
        progress = Run.objects.values("cost_spent", "personas_done", "personas_total").get(
            id=run.id
        )
        reporter.progress(
            status=Run.Status.RUNNING,
            done=progress["personas_done"],
            total=progress["personas_total"],
            cost=None if run.cost_estimate is None else format(progress["cost_spent"], "f"),
            stage={"name": "deliberation", "round": round_number, "rounds": rounds},
        )

    def may_open(round_number: int, *, early: bool) -> str:
        """Why round `round_number` may not start ("" when it may). At the barrier, after the
        round before is stored, the documented check (cancelled; the budget left against the
        round before's cost); early (no budget), whether the run was cancelled."""
        if early:
            return _why_not_start(run.id, round_number, Decimal("0"))
        writer.drain()  # the round before's cost is in the run before the budget is read
        cost = schedule.tallies[round_number - 1].usage.cost if round_number > 1 else None
        return _why_not_start(run.id, round_number, estimated if cost is None else cost)

    async def ask(i: int, round_number: int):
        return await asking.ask(
            i, previous=schedule.statements[round_number - 1], round_number=round_number
        )

    try:
        stopped = _Rounds(
            schedule=schedule,
            ask=ask,
            concurrency=parsed.engine.concurrency if threaded else 1,
            may_open=may_open,
            round_done=lambda r: writer.submit(functools.partial(store, r, schedule.tallies[r])),
            early=budget is None,
        ).run()
    finally:
        writer.close()
    done_rounds = schedule.complete
    history = [[s.answer for s in schedule.statements[r]] for r in range(done_rounds + 1)]
    usage = PersonaResult(narrative_source="llm")
    for r in range(1, done_rounds + 1):
        _add(usage, schedule.tallies[r].usage)
    failures_by_round = [schedule.tallies[r].failed for r in range(1, done_rounds + 1)]
    current = schedule.statements[done_rounds]
    return Deliberation(
        answers=history,
        reasonings=[s.reasoning for s in current],
        rounds=done_rounds,
        stopped=stopped,
        failures=sum(failures_by_round),
        usage=usage,
        asked=len(asked),
        failures_by_round=failures_by_round,
    )


@dataclass(frozen=True)
class _Asking:
    """What every call of the rounds shares: who is asked, what they hear, and how."""

    run_id: int
    persona_ids: list[int]
    order: list[np.ndarray]
    neighbours_shown: int
    scenario: str
    question: str
    options: list[tuple[str, str]]
    contexts: dict[int, str]
    template: Any
    config: LLMConfig
    schema: type[BaseModel]
    max_attempts: int
    prices: PriceBook

    async def ask(
        self, i: int, *, previous: list[Statement], round_number: int
    ) -> tuple[int, Any, tuple[PersonaResult, CallBuffer]]:
        """Persona i's answer in the round (None when its call failed), its usage and calls: a
        task of the rounds' event loop (`llm.aio`)."""
        pid = self.persona_ids[i]
        messages = deliberation_prompt(
            scenario=self.scenario,
            question=self.question,
            options=self.options,
            context=self.contexts.get(pid, ""),
            own=previous[i],
            heard=[previous[j] for j in self.order[i][: self.neighbours_shown]],
            round_number=round_number,
            template=self.template,
        )
        calls = CallBuffer()
        result = PersonaResult(narrative_source="llm")
        try:
            structured = await acomplete_structured(
                config=self.config,
                messages=messages,
                schema=self.schema,
                max_attempts=self.max_attempts,
                label=f"deliberation_round_{round_number}",
                run_id=self.run_id,
                persona_id=pid,
                prices=self.prices,
                buffer=calls,
            )
        except StructuredOutputError as exc:
            result.add_usage(exc.attempts)
            return i, None, (result, calls)
        except ProviderError as exc:
            if exc.http_status in (400, 401, 403, 404):
                await aio.run_db(calls.flush)
                raise  # wrong for every persona: the run fails with it
            return i, None, (result, calls)
        result.add_usage(structured.attempts)
        return i, structured.value, (result, calls)


def _why_not_start(run_id: int, round_number: int, cost: Decimal) -> str:
    """Why round `round_number`, expected to cost `cost`, may not start ("" when it may)."""
    state = Run.objects.values("status", "cost_spent", "budget").get(id=run_id)
    if state["status"] in Run.FINISHED:
        return f"the run was {state['status']} before round {round_number}"
    budget, spent = state["budget"], state["cost_spent"]
    if budget is not None and spent + cost > budget:
        return (
            f"the budget was reached before round {round_number}: {spent} of {budget} spent, "
            f"and a round costs about {cost.quantize(Decimal('0.000001'))}"
        )
    return ""


def _estimated_round_cost(run: Run, rounds: int) -> Decimal:
    """One round's share of the deliberation in the run's estimate (0 when it has no price)."""
    step = ((run.cost_estimate or {}).get("steps") or {}).get("deliberation") or {}
    if step.get("amount") is None or rounds < 1:
        return Decimal("0")
    return Decimal(step["amount"]) / rounds


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


class _Writer:
    """Runs the rounds' writes in order on a thread of its own (closing its database
    connection), so the next round's calls need not wait for them; in the caller's thread when
    not threaded. Its first error is raised by `drain` or `close`."""

    def __init__(self, *, threaded: bool):
        self.jobs: queue.Queue[Callable[[], None] | None] | None = None
        self.errors: list[BaseException] = []
        if threaded:
            self.jobs = queue.Queue()
            self.thread = threading.Thread(target=self._work, name="deliberation-writes")
            self.thread.start()

    def _work(self) -> None:
        assert self.jobs is not None
        try:
            while (job := self.jobs.get()) is not None:
                try:
                    if not self.errors:
                        job()
                except BaseException as exc:  # raised in the calling thread
                    self.errors.append(exc)
                finally:
                    self.jobs.task_done()
        finally:
            connection.close()

    def submit(self, job: Callable[[], None]) -> None:
        if self.jobs is None:
            job()
        else:
            self.jobs.put(job)

    def drain(self) -> None:
        if self.jobs is not None:
            self.jobs.join()
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        if self.jobs is not None:
            self.jobs.put(None)
            self.thread.join()
            self.jobs = None
        if self.errors:
            raise self.errors[0]


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


def _store_usage(run_id: int, usage: PersonaResult, calls: CallBuffer) -> None:
    """The round's calls logged and its usage added to the run, in one transaction."""
    with transaction.atomic():
        calls.flush()
        updates: dict[str, Any] = {key: F(key) + value for key, value in usage.usage_counts.items()}
        updates["cost_spent"] = F("cost_spent") + (usage.cost or Decimal("0"))
        if usage.cost is None:
            updates["cost_complete"] = False
        Run.objects.filter(id=run_id).update(**updates)
