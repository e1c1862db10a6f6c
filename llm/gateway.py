"""The public API of the language-model gateway: every model call of the platform goes through here.

    complete_structured(config=..., messages=..., schema=MyModel) -> StructuredResult[MyModel]
    complete_text(config=..., messages=...) -> TextResult
    estimate_cost(config=..., calls=..., input_tokens_per_call=..., output_tokens_per_call=...)

    await acomplete_structured(...), await acomplete_text(...)   # the same on an event loop

The `a` functions are the platform's main path: a run's chunk makes its calls as tasks of one
event loop (`llm.aio`), through the loop's aiohttp clients (`llm.providers.http`) and the
limiters' asyncio faces, with the cache read for a turn of the loop's keys in one query. The plain
functions serve threads (the influence deliberation, the management commands) with the SDKs'
blocking clients; both share the cache keys, the retry policy, the call-log rows and the limits,
and one exchange of a request (`llm.exchange`) under two drivers.

One call = cache lookup → (replay-only check) → rate-limit slot → HTTP request with the gateway's
retry policy → cache entry → call-log row; the last two are written when the call ends, or held in
the caller's `CallBuffer` to be written with its own rows (a run writes a batch of personas' calls
in one transaction). The SDKs' own retries are off so every try is logged.

Structured output: the JSON Schema of the pydantic model is put in the system instructions and,
where the provider supports it, in the request (OpenAI `response_format`, Anthropic forced tool
use; see `llm.types.StructuredMode`). The reply is validated with pydantic; an invalid reply is sent
back to the model with the validation error, up to `max_attempts` in all. Only the latest invalid
reply is fed back, which keeps the prompt bounded and the attempts replayable from the cache.

Cache keys are the SHA-256 of provider, base URL, model, sampling parameters, the exact messages
sent (so each structured attempt has its own key and a re-run replays the same attempts) and the
sample index. `LLM_REPLAY_ONLY=1` (or `replay_only=True`) turns a cache miss into `ReplayMissError`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Generator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from config import telemetry
from llm import aio, selectors, services
from llm.calllog import CallBuffer, CallContext, abuffered, buffered
from llm.costs import cost_of
from llm.errors import (
    LLMError,
    MissingAPIKeyError,
    ProviderError,
    ReplayMissError,
    StructuredOutputError,
)
from llm.exchange import Exchange, Request, areply_for, reply_for
from llm.models import LLMCall, ModelPrice
from llm.providers.base import StructuredSpec
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
    "cache_key",
    "complete_structured",
    "complete_text",
    "estimate_cost",
]

logger = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
# 2: length-prefixed parts instead of a JSON dump of the request (entries of 1 no longer match).
CACHE_KEY_VERSION = 2


class PriceBook:
    """The price row, read once per gateway call rather than once per attempt; a caller making many
    calls at one price (a run) may hold one and pass it as `prices`, so it is read once in all."""

    def __init__(self, config: LLMConfig):
        self._config = config
        self._loaded = False
        self._price: ModelPrice | None = None

    def get(self) -> ModelPrice | None:
        if not self._loaded:
            self._price = selectors.model_price_get(
                provider=self._config.provider, model=self._config.model
            )
            self._loaded = True
        return self._price

    async def aget(self) -> ModelPrice | None:
        """`get` from an event loop (the first read goes through the loop's database runner)."""
        if not self._loaded:
            await aio.run_db(self.get)
        return self._price


# --- public API -------------------------------------------------------------------------------


# An attempt loop: yields what it needs exchanged, is sent each exchange, returns its result.
# One loop serves both drivers, blocking (`_drive`) and on the event loop (`_adrive`).
Steps = Generator[Request, Exchange, R]


def _drive(steps: Steps[R], exchange: Callable[[Request], Exchange]) -> R:
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


async def _adrive(steps: Steps[R], exchange: Callable[[Request], Awaitable[Exchange]]) -> R:
    """`_drive` on the event loop."""
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


def _structured_steps(
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
    spec, instruction = _schema_parts(schema)
    convo = _with_schema_instructions(list(messages), instruction)
    parameters = config.parameters()
    attempts: list[AttemptUsage] = []
    reasons: list[str] = []
    for attempt in range(1, max_attempts + 1):
        key = cache_key(
            config=config, messages=convo, sample_index=sample_index, parameters=parameters
        )
        with _call_span(config=config, ctx=ctx, attempt=attempt) as span:
            exchange = yield Request(config, convo, spec, key, ctx, attempt, parameters)
            value, error = _parse(exchange.reply.text, schema)
            usage = _record_reply(
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
            _span_usage(span, usage, exchange)
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
            {"role": "user", "content": _feedback(error or "")},
        ]
    raise StructuredOutputError(
        f"{config.provider}/{config.model} gave no valid {spec.name} in {max_attempts} "
        f"attempt(s): " + "; ".join(reasons),
        reasons=reasons,
        attempts=attempts,
    )


def _text_steps(
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
    with _call_span(config=config, ctx=ctx, attempt=1) as span:
        exchange = yield Request(config, convo, None, key, ctx, 1, parameters)
        usage = _record_reply(
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
        _span_usage(span, usage, exchange)
    price = prices.get()
    return TextResult(
        text=exchange.reply.text, attempt=usage, currency=price.currency if price else "USD"
    )


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
        steps = _structured_steps(
            config=config,
            messages=messages,
            schema=schema,
            sample_index=sample_index,
            max_attempts=max_attempts,
            ctx=ctx,
            prices=prices,
            calls=calls,
        )
        return _drive(
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
        steps = _text_steps(
            config=config,
            messages=messages,
            sample_index=sample_index,
            ctx=ctx,
            prices=PriceBook(config),
            calls=calls,
        )
        return _drive(
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
        steps = _structured_steps(
            config=config,
            messages=messages,
            schema=schema,
            sample_index=sample_index,
            max_attempts=max_attempts,
            ctx=ctx,
            prices=prices,
            calls=calls,
        )
        return await _adrive(
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
        steps = _text_steps(
            config=config,
            messages=messages,
            sample_index=sample_index,
            ctx=ctx,
            prices=prices,
            calls=calls,
        )
        return await _adrive(
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


def cache_key(
    *,
    config: LLMConfig,
    messages: Sequence[Message],
    sample_index: int,
    parameters: dict[str, Any] | None = None,
) -> str:
    """The response cache's key: a SHA-256 over what decides a reply (provider, endpoint, model,
    sampling parameters, sample index, then each message's role and content, every part
    length-prefixed so no two requests share a byte stream). The request's head is hashed once per
    distinct head and copied, so a call hashes only its messages: 15-21 µs a call against 55-92 µs
    for the JSON dump of the whole request it replaces (20,000 keys of a 6.5 kB prompt, timed
    alone, interleaved, load 2.8)."""
    params = parameters if parameters is not None else config.parameters()
    digest = _key_head(
        str(config.provider),
        (config.base_url or "").rstrip("/"),
        config.model,
        tuple(sorted(params.items())),  # scalars (LLMConfig.parameters)
        sample_index,
    ).copy()
    parts = []
    for message in messages:
        for part in (message["role"], message["content"]):
            data = part.encode("utf-8")
            parts += (len(data).to_bytes(8, "big"), data)
    digest.update(b"".join(parts))
    return digest.hexdigest()


@functools.lru_cache(maxsize=256)
def _key_head(
    provider: str, base_url: str, model: str, params: tuple[tuple[str, Any], ...], sample_index: int
):
    head = (
        f"persona-lab-cache-v{CACHE_KEY_VERSION}",
        provider,
        base_url,
        model,
        json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    )
    digest = hashlib.sha256()
    for part in head:
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big") + data)
    digest.update(sample_index.to_bytes(8, "big", signed=True))
    return digest


# --- internals --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _schema_parts(schema: type[BaseModel]) -> tuple[StructuredSpec, str]:
    """The JSON Schema of a pydantic model and the instruction quoting it, built once per model:
    generating the schema costs milliseconds, which many threads paid on every call."""
    spec = StructuredSpec(name=schema.__name__, json_schema=schema.model_json_schema())
    instruction = (
        "Reply with only a JSON object (no prose, no code fences) that conforms to this JSON "
        f"Schema:\n{json.dumps(spec.json_schema, sort_keys=True)}"
    )
    return spec, instruction


def _with_schema_instructions(messages: list[Message], instruction: str) -> list[Message]:
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": messages[0]["content"] + "\n\n" + instruction}
        return [first, *messages[1:]]  # type: ignore[list-item]
    return [{"role": "system", "content": instruction}, *messages]


def _feedback(error: str) -> str:
    return (
        f"Your previous reply could not be used: {error}\n"
        "Reply again with only the corrected JSON object, conforming to the schema."
    )


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _parse(text: str, schema: type[T]) -> tuple[T | None, str | None]:
    """The validated value, or None and a description of what is wrong, fit to show the model."""
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1)
    if not candidate:
        return None, "the reply was empty; a JSON object was expected."
    try:
        return schema.model_validate_json(candidate), None
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            if err["type"] == "json_invalid":
                return None, f"the reply is not valid JSON ({err['msg']})."
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{where}: {err['msg']}")
        return None, "the JSON does not match the schema — " + "; ".join(problems)


def _call_span(*, config: LLMConfig, ctx: CallContext, attempt: int):
    """The trace span of one model call (cache look-up, provider tries, parsing); OpenTelemetry's
    `gen_ai.*` names where they exist. Never carries the prompt or the reply."""
    if not telemetry.tracing():  # not even the attributes are gathered
        return telemetry.span("llm.call")
    return telemetry.span(
        "llm.call",
        {
            "gen_ai.system": config.provider,
            "gen_ai.request.model": config.model,
            "personalab.llm.label": ctx.label or None,
            "personalab.llm.attempt": attempt,
            "personalab.run.id": ctx.run_id,
            "personalab.persona.id": ctx.persona_id,
        },
    )


def _span_usage(span, usage: AttemptUsage, exchange: Exchange) -> None:
    if not span.is_recording():
        return
    telemetry.set_attributes(
        span,
        {
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "personalab.llm.cached": usage.cached,
            "personalab.llm.valid": usage.ok,
            "personalab.llm.transport_tries": exchange.transport_try,
            "personalab.llm.cost": float(usage.cost) if usage.cost is not None else None,
        },
    )


def _record_reply(
    *,
    config: LLMConfig,
    messages: list[Message],
    exchange: Exchange,
    key: str,
    ctx: CallContext,
    attempt: int,
    parameters: dict[str, Any],
    prices: PriceBook,
    error: str | None,
    calls: CallBuffer,
) -> AttemptUsage:
    reply = exchange.reply
    if exchange.cached:
        cost: Decimal | None = Decimal("0")  # replayed: nothing was billed this time
        currency = ""
        status = LLMCall.Status.CACHE_HIT
    else:
        price = prices.get()
        cost = cost_of(
            price=price, input_tokens=reply.input_tokens, output_tokens=reply.output_tokens
        )
        currency = price.currency if price else ""
        status = LLMCall.Status.OK if error is None else LLMCall.Status.INVALID_OUTPUT
    row = services.llm_call_build(
        provider=config.provider,
        model=config.model,
        base_url=config.base_url or "",
        parameters=parameters,
        # A cache hit's request is the one first logged under its key (llm_call_prompt): a
        # replayed run would otherwise store every prompt again (6.5 kB a call on average in
        # the engine bench), for nothing it does not already hold.
        messages=[] if exchange.cached else list(messages),
        status=status,
        response_text=reply.text,
        parsed_ok=error is None,
        error=error or "",
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cost=cost,
        currency=currency,
        latency_ms=exchange.latency_ms,
        attempt=attempt,
        transport_try=exchange.transport_try,
        sample_index=ctx.sample_index,
        cache_key=key,
        label=ctx.label,
        run_id=ctx.run_id,
        persona_id=ctx.persona_id,
    )
    calls.calls.append(row)
    return AttemptUsage(
        call=row,
        input_tokens=reply.input_tokens or 0,
        output_tokens=reply.output_tokens or 0,
        cost=cost,
        cached=exchange.cached,
        ok=error is None,
        error=error or "",
    )
