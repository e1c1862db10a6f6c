"""Writes: prices, cached responses, call-log rows."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction

from config.bulk import bulk_insert
from config.clock import now
from llm.models import CachedResponse, LLMCall, ModelPrice
from llm.providers.base import ProviderReply


def model_price_set(
    *,
    provider: str,
    model: str,
    input_per_million: Decimal,
    output_per_million: Decimal,
    currency: str = "USD",
    source: str = "",
    notes: str = "",
) -> ModelPrice:
    """Create or update the price of one model."""
    price, _ = ModelPrice.objects.update_or_create(
        provider=provider,
        model=model,
        defaults={
            "input_per_million": input_per_million,
            "output_per_million": output_per_million,
            "currency": currency,
            "source": source,
            "notes": notes,
        },
    )
    return price


def cached_response_build(
    *, key: str, provider: str, model: str, reply: ProviderReply
) -> CachedResponse:
    """A reply to store under its request key (written by `llm_calls_write`)."""
    return CachedResponse(
        key=key,
        provider=provider,
        model=model,
        response_text=reply.text,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        finish_reason=reply.finish_reason[:40],
    )


def llm_call_build(
    *,
    provider: str,
    model: str,
    base_url: str,
    parameters: dict[str, Any],
    messages: Sequence[Mapping[str, object]],
    status: str,
    cache_key: str,
    response_text: str = "",
    parsed_ok: bool | None = None,
    http_status: int | None = None,
    error: str = "",
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cost: Decimal | None = None,
    currency: str = "",
    latency_ms: int = 0,
    attempt: int = 1,
    transport_try: int = 1,
    sample_index: int = 0,
    label: str = "",
    run_id: int | None = None,
    persona_id: int | None = None,
) -> LLMCall:
    """One call-log row, stamped now (written by `llm_calls_write`). Built from its values in
    field order: Django's keyword construction of a 24-field row cost three times as much, about
    1 % of a model call's CPU in a run."""
    values = {
        "id": None,
        "provider": provider,
        "model": model,
        "base_url": base_url,
        "parameters": parameters,
        "messages": list(messages),
        "response_text": response_text,
        "parsed_ok": parsed_ok,
        "status": status,
        "http_status": http_status,
        "error": error,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost": cost,
        "currency": currency,
        "latency_ms": latency_ms,
        "attempt": attempt,
        "transport_try": transport_try,
        "sample_index": sample_index,
        "cache_key": cache_key,
        "label": label[:60],
        "run_id": run_id,
        "persona_id": persona_id,
        "created_at": now(),
    }
    return LLMCall(*(values[name] for name in _call_fields()))


@functools.cache
def _call_fields() -> tuple[str, ...]:
    """LLMCall's columns in the order its constructor takes them (a KeyError above names one
    the row does not set)."""
    return tuple(f.attname for f in LLMCall._meta.concrete_fields)


def llm_calls_write(*, calls: list[LLMCall], cache: list[CachedResponse]) -> None:
    """Write call-log rows and cache entries in one transaction. When workers race to cache the
    same request, the first entry stored is kept and the others are dropped."""
    with transaction.atomic():
        bulk_insert(CachedResponse, cache, ignore_conflicts=True)
        bulk_insert(LLMCall, calls)
