"""The attempts of one gateway call, written once for both drivers: a generator yields each request
to exchange and is sent its exchange; `drive` answers it blocking (threads), `adrive` on the event
loop. Each attempt is keyed (`llm.cachekey`), traced and logged (`llm.recording`).

A structured reply is validated against its schema (`llm.structured`); an invalid reply is sent
back to the model with the validation error, up to `max_attempts` in all. Every invalid reply so
far stays in the conversation with its error (`max_attempts` bounds the prompt), so each attempt
is a new request: one rebuilt from the first would repeat the last when a model repeats itself,
and the cache would hand back the refused reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import TypeVar

from pydantic import BaseModel

from llm.cachekey import cache_key
from llm.calllog import CallBuffer, CallContext
from llm.errors import StructuredOutputError
from llm.exchange import Exchange, Request
from llm.recording import PriceBook, call_span, record_reply, span_usage
from llm.structured import feedback, parse, schema_parts, with_schema_instructions
from llm.types import AttemptUsage, LLMConfig, Message, StructuredResult, TextResult

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")


# An attempt loop: yields what it needs exchanged, is sent each exchange, returns its result.
# One loop serves both drivers, blocking (`drive`) and on the event loop (`adrive`).
Steps = Generator[Request, Exchange, R]


def drive(steps: Steps[R], exchange: Callable[[Request], Exchange]) -> R:
    """Run an attempt loop, answering each ask with a blocking exchange; an exchange's error is
    raised inside the loop (so its call span records it) and from there to the caller."""
    try:
        ask = next(steps)
        while True:
            try:
                reply = exchange(ask)
            except BaseException as exc:
                ask = steps.throw(exc)
            else:
                ask = steps.send(reply)
    except StopIteration as done:
        return done.value


async def adrive(steps: Steps[R], exchange: Callable[[Request], Awaitable[Exchange]]) -> R:
    """`drive` on the event loop."""
    try:
        ask = next(steps)
        while True:
            try:
                reply = await exchange(ask)
            except BaseException as exc:
                ask = steps.throw(exc)
            else:
                ask = steps.send(reply)
    except StopIteration as done:
        return done.value


def structured_steps(
    *,
    config: LLMConfig,
    messages: Sequence[Message],
    schema: type[T],
    sample_index: int,
    max_attempts: int,
    ctx: CallContext,
    prices: PriceBook,
    calls: CallBuffer,
) -> Steps[StructuredResult[T]]:
    """The attempts of a structured call: each reply parsed against `schema` and logged; an
    invalid one is asked again with the error fed back."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1.")
    spec, instruction = schema_parts(schema)
    convo = with_schema_instructions(list(messages), instruction)
    parameters = config.parameters()
    attempts: list[AttemptUsage] = []
    reasons: list[str] = []
    for attempt in range(1, max_attempts + 1):
        key = cache_key(
            config=config, messages=convo, sample_index=sample_index, parameters=parameters
        )
        with call_span(config=config, ctx=ctx, attempt=attempt) as span:
            exchange = yield Request(config, convo, spec, key, ctx, attempt, parameters)
            value, error = parse(exchange.reply.text, schema)
            usage = record_reply(
                config=config,
                messages=convo,
                exchange=exchange,
                key=key,
                ctx=ctx,
                attempt=attempt,
                parameters=parameters,
                prices=prices,
                error=error,
                calls=calls,
            )
            span_usage(span, usage, exchange)
        attempts.append(usage)
        if value is not None:
            price = prices.get()
            return StructuredResult(
                value=value,
                text=exchange.reply.text,
                attempts=attempts,
                currency=price.currency if price else "USD",
            )
        reasons.append(f"attempt {attempt}: {error}")
        # The model sees every earlier reply and why it was refused. Rebuilding from the first
        # request would make attempt 3 repeat attempt 2's request when a model repeats itself, and
        # the cache would hand back the same refused reply instead of asking again.
        convo = [
            *convo,
            {"role": "assistant", "content": exchange.reply.text},
            {"role": "user", "content": feedback(error or "")},
        ]
    raise StructuredOutputError(
        f"{config.provider}/{config.model} gave no valid {spec.name} in {max_attempts} "
        f"attempt(s): " + "; ".join(reasons),
        reasons=reasons,
        attempts=attempts,
    )


def text_steps(
    *,
    config: LLMConfig,
    messages: Sequence[Message],
    sample_index: int,
    ctx: CallContext,
    prices: PriceBook,
    calls: CallBuffer,
) -> Steps[TextResult]:
    """The one attempt of a free-text call, logged."""
    convo = list(messages)
    parameters = {**config.parameters(), "structured_mode": "text"}
    key = cache_key(config=config, messages=convo, sample_index=sample_index, parameters=parameters)
    with call_span(config=config, ctx=ctx, attempt=1) as span:
        exchange = yield Request(config, convo, None, key, ctx, 1, parameters)
        usage = record_reply(
            config=config,
            messages=convo,
            exchange=exchange,
            key=key,
            ctx=ctx,
            attempt=1,
            parameters=parameters,
            prices=prices,
            error=None,
            calls=calls,
        )
        span_usage(span, usage, exchange)
    price = prices.get()
    return TextResult(
        text=exchange.reply.text, attempt=usage, currency=price.currency if price else "USD"
    )
