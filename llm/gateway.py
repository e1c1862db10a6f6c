"""The public API of the language-model gateway: every model call of the platform goes through here.

    complete_structured(config=..., messages=..., schema=MyModel) -> StructuredResult[MyModel]
    complete_text(config=..., messages=...) -> TextResult
    estimate_cost(config=..., calls=..., input_tokens_per_call=..., output_tokens_per_call=...)

    await acomplete_structured(...), await acomplete_text(...)   # the same on an event loop

The `a` functions are the platform's main path: a run's chunk makes its calls as tasks of one
event loop (`llm.aio`), through the loop's aiohttp clients (`llm.providers.http`) and the
limiters' asyncio faces, with the cache read for a turn of the loop's keys in one query (the
influence deliberation's rounds too, `llm.loops.CallsOnLoop`). The plain functions serve callers
on threads of their own with the SDKs' blocking clients (no model call of the platform uses them
now); both share the cache keys, the retry policy, the call-log rows and the limits,
and one exchange of a request (`llm.exchange`) under two drivers.

One call = cache lookup → (replay-only check) → rate-limit slot → HTTP request with the gateway's
retry policy → cache entry → call-log row; the last two are written when the call ends, or held in
the caller's `CallBuffer` to be written with its own rows (a run writes a batch of personas' calls
in one transaction). The SDKs' own retries are off so every try is logged.

A call's attempts (`llm.attempts`) are keyed by `llm.cachekey`, ask for structured output as
`llm.structured` words it, and are traced and logged by `llm.recording`. `LLM_REPLAY_ONLY=1` (or
`replay_only=True`) turns a cache miss into `ReplayMissError`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from llm import aio, selectors
from llm.attempts import adrive, drive, structured_steps, text_steps
from llm.calllog import CallBuffer, CallContext, abuffered, buffered
from llm.costs import cost_of
from llm.errors import (
    LLMError,
    MissingAPIKeyError,
    ProviderError,
    ReplayMissError,
    StructuredOutputError,
)
from llm.exchange import areply_for, reply_for
from llm.recording import PriceBook
from llm.types import (
    AttemptUsage,
    CostEstimate,
    LLMConfig,
    Message,
    Provider,
    RetryPolicy,
    StructuredResult,
    TextResult,
)

__all__ = [
    "AttemptUsage",
    "CostEstimate",
    "LLMConfig",
    "LLMError",
    "Message",
    "MissingAPIKeyError",
    "PriceBook",
    "Provider",
    "ProviderError",
    "ReplayMissError",
    "RetryPolicy",
    "StructuredOutputError",
    "StructuredResult",
    "TextResult",
    "acomplete_structured",
    "acomplete_text",
    "complete_structured",
    "complete_text",
    "estimate_cost",
]

logger = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)


def _fixed(use_cache: bool, replay_only: bool | None, retry: RetryPolicy | None) -> dict[str, Any]:
    """What every exchange of one call shares (the drivers add the request and the buffer)."""
    return {"use_cache": use_cache, "replay_only": replay_only, "retry": retry or RetryPolicy()}


def complete_structured(
    *,
    config: LLMConfig,
    messages: Sequence[Message],
    schema: type[T],
    sample_index: int = 0,
    max_attempts: int = 3,
    label: str = "",
    run_id: int | None = None,
    persona_id: int | None = None,
    use_cache: bool = True,
    replay_only: bool | None = None,
    retry: RetryPolicy | None = None,
    prices: PriceBook | None = None,
    buffer: CallBuffer | None = None,
) -> StructuredResult[T]:
    """Ask for a JSON answer matching `schema`; retry invalid answers with the error fed back.

    The call-log rows and cache entries go to `buffer` when one is given (the caller flushes it);
    otherwise they are written before this returns or raises. Raises `StructuredOutputError`
    (with one reason per attempt) when every attempt is invalid, `ProviderError` when the
    provider cannot answer, `ReplayMissError` on a replay-only miss.
    """
    ctx = CallContext(sample_index=sample_index, label=label, run_id=run_id, persona_id=persona_id)
    prices = prices or PriceBook(config)
    fixed = _fixed(use_cache, replay_only, retry)
    with buffered(buffer) as calls:
        steps = structured_steps(
            config=config,
            messages=messages,
            schema=schema,
            sample_index=sample_index,
            max_attempts=max_attempts,
            ctx=ctx,
            prices=prices,
            calls=calls,
        )
        return drive(
            steps,
            lambda request: reply_for(request, **fixed, calls=calls),
        )


def complete_text(
    *,
    config: LLMConfig,
    messages: Sequence[Message],
    sample_index: int = 0,
    label: str = "",
    run_id: int | None = None,
    persona_id: int | None = None,
    use_cache: bool = True,
    replay_only: bool | None = None,
    retry: RetryPolicy | None = None,
    buffer: CallBuffer | None = None,
) -> TextResult:
    """A free-text answer (no schema), with the same cache, limits, retries, log and buffer."""
    ctx = CallContext(sample_index=sample_index, label=label, run_id=run_id, persona_id=persona_id)
    fixed = _fixed(use_cache, replay_only, retry)
    with buffered(buffer) as calls:
        steps = text_steps(
            config=config,
            messages=messages,
            sample_index=sample_index,
            ctx=ctx,
            prices=PriceBook(config),
            calls=calls,
        )
        return drive(
            steps,
            lambda request: reply_for(request, **fixed, calls=calls),
        )


async def acomplete_structured(
    *,
    config: LLMConfig,
    messages: Sequence[Message],
    schema: type[T],
    sample_index: int = 0,
    max_attempts: int = 3,
    label: str = "",
    run_id: int | None = None,
    persona_id: int | None = None,
    use_cache: bool = True,
    replay_only: bool | None = None,
    retry: RetryPolicy | None = None,
    prices: PriceBook | None = None,
    buffer: CallBuffer | None = None,
) -> StructuredResult[T]:
    """`complete_structured` on an event loop: the same attempts, cache keys, rows and errors.

    Runs in the caller's `llm.aio` session (its clients, cache reader and database runner), or in
    one of its own for this call."""
    ctx = CallContext(sample_index=sample_index, label=label, run_id=run_id, persona_id=persona_id)
    prices = prices or PriceBook(config)
    fixed = _fixed(use_cache, replay_only, retry)
    async with aio.current_or_new() as session, abuffered(buffer) as calls:
        await prices.aget()
        steps = structured_steps(
            config=config,
            messages=messages,
            schema=schema,
            sample_index=sample_index,
            max_attempts=max_attempts,
            ctx=ctx,
            prices=prices,
            calls=calls,
        )
        return await adrive(
            steps,
            lambda request: areply_for(session, request, **fixed, calls=calls),
        )


async def acomplete_text(
    *,
    config: LLMConfig,
    messages: Sequence[Message],
    sample_index: int = 0,
    label: str = "",
    run_id: int | None = None,
    persona_id: int | None = None,
    use_cache: bool = True,
    replay_only: bool | None = None,
    retry: RetryPolicy | None = None,
    buffer: CallBuffer | None = None,
) -> TextResult:
    """`complete_text` on an event loop."""
    ctx = CallContext(sample_index=sample_index, label=label, run_id=run_id, persona_id=persona_id)
    prices = PriceBook(config)
    fixed = _fixed(use_cache, replay_only, retry)
    async with aio.current_or_new() as session, abuffered(buffer) as calls:
        await prices.aget()
        steps = text_steps(
            config=config,
            messages=messages,
            sample_index=sample_index,
            ctx=ctx,
            prices=prices,
            calls=calls,
        )
        return await adrive(
            steps,
            lambda request: areply_for(session, request, **fixed, calls=calls),
        )


def estimate_cost(
    *,
    config: LLMConfig,
    calls: int,
    input_tokens_per_call: int,
    output_tokens_per_call: int,
) -> CostEstimate:
    """What `calls` calls of the given size would cost at the model's price (None if unpriced)."""
    price = selectors.model_price_get(provider=config.provider, model=config.model)
    input_tokens = calls * input_tokens_per_call
    output_tokens = calls * output_tokens_per_call
    return CostEstimate(
        amount=cost_of(price=price, input_tokens=input_tokens, output_tokens=output_tokens),
        currency=price.currency if price else "USD",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        price_known=price is not None,
    )
