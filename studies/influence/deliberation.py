"""Deliberation by language model (issue #15): rounds in which each persona reads what its ties
answered and why, and answers again with its reasons.

A multi-agent simulation on the LLM backend (`backend="llm"` on `/api/v1/multi-agent/simulate`)
first takes every persona through the persona engine (analyze → context → experience →
participation) as an ordinary run: that is round 0, each persona answering alone (influence off).
The run's finishing step (`studies.influence.compute`) then calls `deliberate`: for each round,
every persona with ties is shown its own context (the engine's), its own previous answer and
reasoning, and those of up to `neighbours_shown` of its ties, most influential first
(`studies.influence.prompt`), and asked again through the gateway (structured output, the response
cache, the shared rate limits, the call log). The calls go as soon as what they read is answered,
with no barrier between rounds (`studies.influence.rounds`). A persona whose call fails (the
provider's error after its retries, or a reply that stays invalid) keeps its previous answer; the
failure is counted. A persona without ties hears nobody and is not asked: it keeps its answer.

Costs are added to the run after every round, with the round's calls logged in the same
transaction, on a writer thread of its own so the next round's calls do not wait for the write
(the budget check of a round waits for it). Between rounds, a round starts only when the budget
left covers it at the cost of the round before (the estimate's per round for the first), and not
when the run was cancelled; progress is reported after every round over the run's WebSocket (a
`stage` of the progress message).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import F
from pydantic import BaseModel

from llm import aio
from llm.errors import ProviderError, StructuredOutputError
from llm.gateway import CallBuffer, PriceBook, acomplete_structured
from llm.types import LLMConfig
from personas.engine.prompts import context_as_text
from personas.engine.results import PersonaResult
from studies.backends.llm import parse_config
from studies.influence.prompt import (
    MAX_TOKENS,
    Statement,
    deliberation_prompt,
    neighbour_order,
    prompt_template,
    reply_schema,
)
from studies.influence.rounds import _add, _Rounds, _Schedule, _Tally
from studies.influence.simulate import Wiring
from studies.models import Answer, Run, RunPersona
from studies.progress import Reporter


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
        template=prompt_template(),
        config=config,
        schema=reply_schema([code for code, _ in options]),
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


def _store_usage(run_id: int, usage: PersonaResult, calls: CallBuffer) -> None:
    """The round's calls logged and its usage added to the run, in one transaction."""
    with transaction.atomic():
        calls.flush()
        updates: dict[str, Any] = {key: F(key) + value for key, value in usage.usage_counts.items()}
        updates["cost_spent"] = F("cost_spent") + (usage.cost or Decimal("0"))
        if usage.cost is None:
            updates["cost_complete"] = False
        Run.objects.filter(id=run_id).update(**updates)
