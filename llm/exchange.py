"""One reply for one exact request: from the cache, or from the provider with the gateway's
retry policy, every try logged. `reply_for` does it blocking (threads: the SDK's client, the
process's limiters, `time.sleep`), `areply_for` on an event loop (the session's batched cache
reader, its aiohttp client and asyncio limiters, `asyncio.sleep`). What happens, and in which order,
is written once (`_steps`): it yields what it needs done (read the cache, check the server, send,
wait) and each driver does it its own way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from llm import aio, selectors, services
from llm.calllog import CallBuffer, CallContext
from llm.errors import ProviderError, ReplayMissError
from llm.keys import api_key_for
from llm.models import LLMCall
from llm.outbound import check_outbound
from llm.providers import adapter_for
from llm.providers.base import (
    PermanentProviderError,
    ProviderReply,
    StructuredSpec,
    TransientProviderError,
)
from llm.ratelimit import estimate_tokens, limiter_for
from llm.types import LLMConfig, Message, RetryPolicy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exchange:
    """A request's reply, whether it came from the cache, how long it took (the provider's answer,
    or the cache read for a hit) and on which transport try (0 for a hit)."""

    reply: ProviderReply
    cached: bool
    latency_ms: int
    transport_try: int


@dataclass(frozen=True)
class Request:
    """One exact request of an attempt: what is sent, its cache key, and whom it is for."""

    config: LLMConfig
    messages: list[Message]
    spec: StructuredSpec | None
    key: str
    ctx: CallContext
    attempt: int
    parameters: dict[str, Any]

    def where(self) -> dict[str, Any]:
        """What a call-log row of this request records besides the try's outcome."""
        return {
            "config": self.config,
            "messages": self.messages,
            "parameters": self.parameters,
            "key": self.key,
            "ctx": self.ctx,
            "attempt": self.attempt,
        }


# What the steps ask their driver to do.
@dataclass(frozen=True)
class _CacheRead:
    key: str


@dataclass(frozen=True)
class _CheckOutbound:
    pass


@dataclass(frozen=True)
class _Send:
    """One try, inside a rate-limit slot; answered with (reply, refusal, start), where `start` is
    when the slot was had (the wait for it is not the provider's latency)."""

    seed: int | None
    estimated_tokens: int


@dataclass(frozen=True)
class _Wait:
    seconds: float


_Effect = _CacheRead | _CheckOutbound | _Send | _Wait
_Sent = tuple[ProviderReply | None, TransientProviderError | PermanentProviderError | None, float]


def _steps(
    request: Request,
    *,
    use_cache: bool,
    replay_only: bool | None,
    retry: RetryPolicy,
    calls: CallBuffer,
) -> Generator[_Effect, Any, Exchange]:
    config = request.config
    if use_cache:
        start = time.monotonic()
        cached = yield _CacheRead(request.key)
        if cached is not None:
            latency = int((time.monotonic() - start) * 1000)
            return Exchange(reply=cached, cached=True, latency_ms=latency, transport_try=0)
    if _replay_only(replay_only):
        raise _replay_miss(config, request.key)
    # Resolved again now: the address a name points to may have changed since the run started.
    yield _CheckOutbound()
    send = _Send(
        seed=_effective_seed(config, request.ctx.sample_index),
        estimated_tokens=estimate_tokens(request.messages, config.max_tokens),
    )
    where = request.where()
    for n in range(1, retry.max_tries + 1):
        reply, refusal, start = yield send
        if isinstance(refusal, TransientProviderError):
            yield _Wait(_tried_again(refusal, calls, start=start, n=n, retry=retry, **where))
            continue
        if refusal is not None:
            _failed(refusal, calls, start=start, n=n, **where)
            raise _permanent(config, refusal, n) from refusal
        assert reply is not None
        return _answered(reply, calls, start=start, n=n, use_cache=use_cache, **where)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def reply_for(
    request: Request,
    *,
    use_cache: bool,
    replay_only: bool | None,
    retry: RetryPolicy,
    calls: CallBuffer,
) -> Exchange:
    """One reply for `request`, blocking."""
    steps = _steps(request, use_cache=use_cache, replay_only=replay_only, retry=retry, calls=calls)
    config = request.config
    answer: Any = None
    try:
        while True:
            effect = steps.send(answer)
            if isinstance(effect, _CacheRead):
                answer = selectors.cached_response_get(key=effect.key)
            elif isinstance(effect, _CheckOutbound):
                answer = check_outbound(base_url=config.base_url, key=config.key)
            elif isinstance(effect, _Send):
                answer = _send(request, effect)
            else:
                answer = time.sleep(effect.seconds)
    except StopIteration as done:
        return done.value


async def areply_for(
    session: aio.Session,
    request: Request,
    *,
    use_cache: bool,
    replay_only: bool | None,
    retry: RetryPolicy,
    calls: CallBuffer,
) -> Exchange:
    """`reply_for` on the event loop, through `session`."""
    steps = _steps(request, use_cache=use_cache, replay_only=replay_only, retry=retry, calls=calls)
    answer: Any = None
    try:
        while True:
            effect = steps.send(answer)
            if isinstance(effect, _CacheRead):
                answer = await session.cache.get(effect.key)
            elif isinstance(effect, _CheckOutbound):
                answer = await session.check_outbound(request.config)
            elif isinstance(effect, _Send):
                answer = await _asend(session, request, effect)
            else:
                answer = await asyncio.sleep(effect.seconds)
    except StopIteration as done:
        return done.value


def _send(request: Request, effect: _Send) -> _Sent:
    config = request.config
    adapter = adapter_for(config.provider)
    api_key = api_key_for(config)
    limiter = limiter_for(config)
    kwargs = {"config": config, "messages": request.messages, "spec": request.spec}
    start = time.monotonic()
    try:
        if limiter is None:
            reply = adapter.send(api_key=api_key, seed=effect.seed, **kwargs)
        else:
            with limiter.slot(
                estimated_tokens=effect.estimated_tokens, lease_s=config.timeout_s + 30
            ) as lease:
                start = time.monotonic()
                reply = adapter.send(api_key=api_key, seed=effect.seed, **kwargs)
                lease.settle(actual_tokens=_tokens_used(reply))
    except (TransientProviderError, PermanentProviderError) as refusal:
        return None, refusal, start
    return reply, None, start


async def _asend(session: aio.Session, request: Request, effect: _Send) -> _Sent:
    config = request.config
    adapter = adapter_for(config.provider)
    client = session.client(adapter, config=config, api_key=api_key_for(config))
    limiter = session.limiter(config)
    kwargs = {"config": config, "messages": request.messages, "spec": request.spec}
    async with session.request_slot():
        start = time.monotonic()
        try:
            if limiter is None:
                reply = await adapter.asend(client=client, seed=effect.seed, **kwargs)
            else:
                async with limiter.aslot(
                    estimated_tokens=effect.estimated_tokens, lease_s=config.timeout_s + 30
                ) as lease:
                    start = time.monotonic()
                    reply = await adapter.asend(client=client, seed=effect.seed, **kwargs)
                    lease.settle(actual_tokens=_tokens_used(reply))
        except (TransientProviderError, PermanentProviderError) as refusal:
            return None, refusal, start
    return reply, None, start


def _replay_only(flag: bool | None) -> bool:
    return flag if flag is not None else settings.LLM_REPLAY_ONLY


def _effective_seed(config: LLMConfig, sample_index: int) -> int | None:
    # Each sample of the same prompt gets its own, still reproducible, seed.
    return None if config.seed is None else config.seed + sample_index


def _failed(
    exc: TransientProviderError | PermanentProviderError,
    calls: CallBuffer,
    *,
    start: float,
    n: int,
    **where: Any,
) -> None:
    """Log transport try `n` of an exchange, refused by the provider (both exchange drivers)."""
    calls.calls.append(
        _failure_row(
            status=exc.status
            if isinstance(exc, TransientProviderError)
            else LLMCall.Status.HTTP_ERROR,
            http_status=exc.http_status,
            error=str(exc),
            latency=int((time.monotonic() - start) * 1000),
            transport_try=n,
            **where,
        )
    )


def _tried_again(
    exc: TransientProviderError,
    calls: CallBuffer,
    *,
    start: float,
    n: int,
    retry: RetryPolicy,
    **where: Any,
) -> float:
    """Log a transient refusal; the seconds to wait before the next try."""
    _failed(exc, calls, start=start, n=n, **where)
    delay = _retry_delay(exc, tries=n, retry=retry, config=where["config"])
    logger.info("LLM %s try %d failed (%s); retrying in %.2f s", where["key"][:12], n, exc, delay)
    return delay


def _answered(
    reply: ProviderReply, calls: CallBuffer, *, start: float, n: int, use_cache: bool, **where: Any
) -> Exchange:
    """A provider's reply as the exchange's result, queued for the cache when it is used."""
    latency = int((time.monotonic() - start) * 1000)
    if use_cache:
        config = where["config"]
        calls.cache.append(
            services.cached_response_build(
                key=where["key"], provider=config.provider, model=config.model, reply=reply
            )
        )
    return Exchange(reply=reply, cached=False, latency_ms=latency, transport_try=n)


def _failure_row(
    *,
    config: LLMConfig,
    messages: list[Message],
    parameters: dict[str, Any],
    key: str,
    ctx: CallContext,
    attempt: int,
    status: str,
    http_status: int | None,
    error: str,
    latency: int,
    transport_try: int,
) -> LLMCall:
    return services.llm_call_build(
        provider=config.provider,
        model=config.model,
        base_url=config.base_url or "",
        parameters=parameters,
        messages=list(messages),
        status=status,
        http_status=http_status,
        error=error,
        latency_ms=latency,
        attempt=attempt,
        transport_try=transport_try,
        sample_index=ctx.sample_index,
        cache_key=key,
        label=ctx.label,
        run_id=ctx.run_id,
        persona_id=ctx.persona_id,
    )


def _replay_miss(config: LLMConfig, key: str) -> ReplayMissError:
    return ReplayMissError(
        f"Replay-only mode: no cached response for this {config.provider}/{config.model} "
        f"call (key {key[:12]}…). Run once without LLM_REPLAY_ONLY to record it.",
        cache_key=key,
    )


def _permanent(config: LLMConfig, exc: PermanentProviderError, tries: int) -> ProviderError:
    return ProviderError(
        f"{config.provider}/{config.model} refused the request: {exc}",
        status=LLMCall.Status.HTTP_ERROR,
        http_status=exc.http_status,
        tries=tries,
    )


def _retry_delay(
    exc: TransientProviderError, *, tries: int, retry: RetryPolicy, config: LLMConfig
) -> float:
    """The wait before the next try; ProviderError once the tries are used up or the provider
    asks for a longer wait than the policy allows."""
    if exc.retry_after is not None and exc.retry_after > retry.max_retry_after_s:
        raise ProviderError(
            f"{config.provider} asks to wait {exc.retry_after:.0f} s (more than "
            f"{retry.max_retry_after_s:.0f} s): {exc}",
            status=exc.status,
            http_status=exc.http_status,
            tries=tries,
            retryable=True,
        ) from exc
    if tries == retry.max_tries:
        raise ProviderError(
            f"{config.provider}/{config.model} failed after {tries} tries; last: {exc}",
            status=exc.status,
            http_status=exc.http_status,
            tries=tries,
            retryable=True,
        ) from exc
    return retry.delay(tries, exc.retry_after, random.random())


def _tokens_used(reply: ProviderReply) -> int | None:
    if reply.input_tokens is None or reply.output_tokens is None:
        return None
    return reply.input_tokens + reply.output_tokens
