"""What each attempt of a model call leaves behind: its trace span and its call-log row, costed at
the model's price (`PriceBook`, read once per call).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from config import telemetry
from llm import aio, selectors, services
from llm.calllog import CallBuffer, CallContext
from llm.costs import cost_of
from llm.exchange import Exchange
from llm.models import LLMCall, ModelPrice
from llm.types import AttemptUsage, LLMConfig, Message


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


def call_span(*, config: LLMConfig, ctx: CallContext, attempt: int):
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


def span_usage(span, usage: AttemptUsage, exchange: Exchange) -> None:
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


def record_reply(
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
