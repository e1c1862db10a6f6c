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
asked does not matter. A persona whose call fails (the provider's error after its retries, or a
reply that stays invalid) keeps its previous answer; the failure is counted. A persona without ties
hears nobody and is not asked: it keeps its answer.

Most influential first: the ties who share the most of the homophily attributes with the persona
(the tie's affinity), then the best-connected (degree), then position — the same order for the
same network, so the same seed gives the same prompts.

Costs are added to the run after every round, with the round's calls logged in the same
transaction. The run's estimate includes the rounds (`deliberation_estimate`, added by
`studies.services.run_start` before the budget is checked). Between rounds, a round starts only
when the budget left covers it at the cost of the round before (the estimate's per round for the
first), and not when the run was cancelled; progress is reported after every round over the run's
WebSocket (a `stage` of the progress message). The rounds stop early once a round changes nobody's
answer and has no failure (the next would read the same answers).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.template import Context, Engine
from pydantic import BaseModel, Field, create_model

from llm.errors import LLMError, ProviderError, StructuredOutputError
from llm.gateway import CallBuffer, PriceBook, complete_structured
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
            }
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
    history = [[s.answer for s in current]]
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
    usage = PersonaResult(narrative_source="llm")
    failures_by_round: list[int] = []
    stopped, done_rounds = "", 0
    next_cost = _estimated_round_cost(run, rounds)
    for round_number in range(1, rounds + 1):
        stopped = _why_not_start(run.id, round_number, next_cost)
        if stopped:
            break
        ask = functools.partial(asking.ask, previous=list(current), round_number=round_number)
        try:
            replies = _each(ask, asked, parsed.engine.concurrency)
        except ProviderError as exc:
            raise LLMError(f"deliberation round {round_number}: {exc}") from exc
        round_usage = PersonaResult(narrative_source="llm")
        buffer = CallBuffer()
        failed = 0
        for i, value, (result, calls) in replies:
            buffer.extend(calls)
            _add(round_usage, result)
            if value is None:
                failed += 1
            else:
                current[i] = Statement(value.answer, value.reasoning)
        _store_usage(run.id, round_usage, buffer)
        _add(usage, round_usage)
        failures_by_round.append(failed)
        history.append([s.answer for s in current])
        done_rounds = round_number
        if round_usage.cost is not None:
            next_cost = round_usage.cost
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
        if history[-1] == history[-2] and not failed and round_number < rounds:
            stopped = f"nobody changed their answer in round {round_number}"
            break  # the next round would read the same answers
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

    def ask(
        self, i: int, *, previous: list[Statement], round_number: int
    ) -> tuple[int, Any, tuple[PersonaResult, CallBuffer]]:
        """Persona i's answer in the round (None when its call failed), its usage and calls."""
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
            structured = complete_structured(
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
                calls.flush()
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


def _each(
    ask: Callable[[int], tuple[int, Any, Any]], todo: list[int], concurrency: int
) -> list[tuple[int, Any, Any]]:
    """`ask` for every persona of `todo`, up to `concurrency` at once on threads of their own
    (each closing its database connection); in this thread when 1 or inside a transaction."""
    if concurrency <= 1 or connection.in_atomic_block:
        return [ask(i) for i in todo]
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in todo:
        pending.put(i)
    results: list[tuple[int, Any, Any]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            while not errors:
                try:
                    i = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    outcome = ask(i)
                except BaseException as exc:  # re-raised in the calling thread
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    results.append(outcome)
        finally:
            connection.close()

    workers = [
        threading.Thread(target=work, name=f"deliberation-{n}", daemon=True)
        for n in range(min(concurrency, len(todo)))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return sorted(results, key=lambda r: r[0])


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
