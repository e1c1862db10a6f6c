"""Per-provider limits on concurrency, requests per minute and tokens per minute.

Limits come from `settings.LLM_RATE_LIMITS` (``{"openai": {"concurrency": 8, "requests_per_minute":
500, "tokens_per_minute": 200_000}, ...}``), which the settings read from the environment
(`LLM_OPENAI_CONCURRENCY`, `LLM_OPENAI_RPM`, `LLM_OPENAI_TPM`, likewise `ANTHROPIC` and
`COMPATIBLE`); unset means unlimited.
A compatible server is limited per base URL, since two servers share nothing.

Algorithms (the same in both backends):

* Requests and tokens per minute — a token bucket holding at most one minute's allowance and
  refilling continuously at limit/60 per second, used as a *reservation*: a caller takes its amount
  at once, even into debt, and sleeps until the debt would be repaid (debt / rate). Nobody polls,
  callers are served in arrival order, and a burst of at most one minute's allowance passes at once.
  Tokens are reserved as an estimate (prompt characters / 4 + max_tokens, which is also how
  providers count a request against the limit) and corrected with the real usage afterwards.
* Concurrency — a semaphore whose holders are leases with an expiry, so a killed worker's slot comes
  back by itself after `lease_s`.

With `REDIS_URL` set every worker on every machine shares the state: the buckets are hashes updated
by a Lua script (atomic, timed by the Redis server's clock so machines need not agree on the time)
and the semaphore is a sorted set of lease ids scored by expiry, acquired by a script that drops
expired leases first and polled with a short jittered sleep. Without Redis, the same algorithms run
in-process under a lock, shared by the threads of one process.

Both backends have an asyncio face for the gateway's event loop: `LocalLimiter.aslot` waits on the
same buckets and slots as `slot` (so threads and event loops of one process share one limit), and
`AsyncRedisLimiter` runs the same scripts through `redis.asyncio` on the loop's own connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from llm.types import LLMConfig, Message, Provider


@dataclass(frozen=True)
class RateLimits:
    concurrency: int | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @property
    def unlimited(self) -> bool:
        return not (self.concurrency or self.requests_per_minute or self.tokens_per_minute)


def limits_for(provider: str) -> RateLimits:
    return RateLimits(**settings.LLM_RATE_LIMITS.get(str(provider), {}))


def estimate_tokens(messages: list[Message], max_tokens: int) -> int:
    # Roughly four characters per token in English; exact counts need the provider's tokenizer,
    # and the estimate is corrected by the real usage once the reply arrives.
    return sum(len(m["content"]) for m in messages) // 4 + max_tokens


class Lease(Protocol):
    def settle(self, *, actual_tokens: int | None) -> None: ...


class Limiter(Protocol):
    def slot(self, *, estimated_tokens: int, lease_s: float) -> AbstractContextManager[Lease]: ...


class AsyncLimiter(Protocol):
    def aslot(
        self, *, estimated_tokens: int, lease_s: float
    ) -> AbstractAsyncContextManager[Lease]: ...


# --- in-process -------------------------------------------------------------------------------


class _Bucket:
    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def reserve(self, amount: float) -> float:
        """Take `amount` (capped at capacity so a huge request cannot wait forever); return the wait."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= min(amount, self.capacity)
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def adjust(self, delta: float) -> None:
        with self.lock:
            self.tokens = min(self.capacity, self.tokens - delta)


class _LocalLease:
    def __init__(self, tpm: _Bucket | None, estimated: int):
        self._tpm = tpm
        self._estimated = estimated

    def settle(self, *, actual_tokens: int | None) -> None:
        if self._tpm is not None and actual_tokens is not None:
            self._tpm.adjust(actual_tokens - self._estimated)


class _Waiter:
    """One caller queued for a slot: a thread (an event to set) or an event loop's future."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] | None = loop.create_future() if loop else None
        self.event = None if loop else threading.Event()
        self.granted = False

    def grant(self) -> bool:
        """Hand this waiter the slot; False when it can no longer take it (its loop is gone)."""
        if self.event is not None:
            self.event.set()
        else:
            assert self.loop is not None and self.future is not None
            try:
                self.loop.call_soon_threadsafe(_resolve, self.future)
            except RuntimeError:  # the loop was closed meanwhile
                return False
        self.granted = True
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Slots:
    """A counting semaphore that threads and event loops (of any thread) wait on together, served
    in arrival order; a released slot is handed straight to the first waiter."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()

    def acquire(self) -> None:
        with self._lock:
            if self.free and not self._waiters:
                self.free -= 1
                return
            waiter = _Waiter()
            self._waiters.append(waiter)
        assert waiter.event is not None
        waiter.event.wait()

    async def aacquire(self) -> None:
        with self._lock:
            if self.free and not self._waiters:
                self.free -= 1
                return
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
        assert waiter.future is not None
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter.granted:  # the slot came as the wait was cancelled: pass it on
                    self._release_locked()
                else:
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        with self._lock:
            self._release_locked()

    def _release_locked(self) -> None:
        while self._waiters:
            if self._waiters.popleft().grant():
                return
        self.free += 1


class LocalLimiter:
    """The in-process limiter: `slot` for threads, `aslot` for event loops, one shared state."""

    def __init__(self, limits: RateLimits):
        self.limits = limits
        self._slots = _Slots(limits.concurrency) if limits.concurrency else None
        self._rpm = _Bucket(limits.requests_per_minute) if limits.requests_per_minute else None
        self._tpm = _Bucket(limits.tokens_per_minute) if limits.tokens_per_minute else None

    def _reserve(self, estimated_tokens: int) -> float:
        wait = 0.0
        if self._rpm is not None:
            wait = max(wait, self._rpm.reserve(1))
        if self._tpm is not None:
            wait = max(wait, self._tpm.reserve(estimated_tokens))
        return wait

    @contextmanager
    def slot(self, *, estimated_tokens: int, lease_s: float) -> Iterator[_LocalLease]:
        wait = self._reserve(estimated_tokens)
        if wait > 0:
            time.sleep(wait)
        if self._slots is not None:
            self._slots.acquire()
        try:
            yield _LocalLease(self._tpm, estimated_tokens)
        finally:
            if self._slots is not None:
                self._slots.release()

    @asynccontextmanager
    async def aslot(self, *, estimated_tokens: int, lease_s: float) -> AsyncIterator[_LocalLease]:
        wait = self._reserve(estimated_tokens)
        if wait > 0:
            await asyncio.sleep(wait)
        if self._slots is not None:
            await self._slots.aacquire()
        try:
            yield _LocalLease(self._tpm, estimated_tokens)
        finally:
            if self._slots is not None:
                self._slots.release()


# --- Redis ------------------------------------------------------------------------------------

# KEYS[1] bucket hash; ARGV: capacity, rate per second, amount. Returns the wait in microseconds.
_BUCKET_RESERVE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local amount = math.min(tonumber(ARGV[3]), capacity)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or capacity
local stamp = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate) - amount
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) * 2 + 60)
if tokens >= 0 then return 0 end
return math.ceil(-tokens / rate * 1000000)
"""

# KEYS[1] bucket hash; ARGV: capacity, delta (actual - estimated tokens).
_BUCKET_ADJUST = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens == nil then return 0 end
tokens = math.min(tonumber(ARGV[1]), tokens - tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens))
return 0
"""

# KEYS[1] lease sorted set; ARGV: limit, lease id, lease seconds. Returns 1 when acquired.
_SEM_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 60)
  return 1
end
return 0
"""


class _RedisLease:
    def __init__(self, limiter: RedisLimiter, estimated: int):
        self._limiter = limiter
        self._estimated = estimated

    def settle(self, *, actual_tokens: int | None) -> None:
        tpm = self._limiter.limits.tokens_per_minute
        if tpm and actual_tokens is not None:
            self._limiter._adjust(
                keys=[self._limiter.key("tpm")], args=[tpm, actual_tokens - self._estimated]
            )


class RedisLimiter:
    # Between two tries at a full semaphore; short against a model call, long against Redis.
    poll_s = 0.02

    def __init__(self, limits: RateLimits, *, scope: str, url: str):
        import redis

        self.limits = limits
        self.scope = scope
        self.client = redis.Redis.from_url(url)
        self._reserve = self.client.register_script(_BUCKET_RESERVE)
        self._adjust = self.client.register_script(_BUCKET_ADJUST)
        self._acquire = self.client.register_script(_SEM_ACQUIRE)

    def key(self, part: str) -> str:
        return f"llm:ratelimit:{self.scope}:{part}"

    def _bucket_wait(self, part: str, per_minute: int, amount: int) -> float:
        micros = self._reserve(keys=[self.key(part)], args=[per_minute, per_minute / 60.0, amount])
        return int(micros) / 1_000_000

    @contextmanager
    def slot(self, *, estimated_tokens: int, lease_s: float) -> Iterator[_RedisLease]:
        wait = 0.0
        if self.limits.requests_per_minute:
            wait = max(wait, self._bucket_wait("rpm", self.limits.requests_per_minute, 1))
        if self.limits.tokens_per_minute:
            wait = max(
                wait, self._bucket_wait("tpm", self.limits.tokens_per_minute, estimated_tokens)
            )
        if wait > 0:
            time.sleep(wait)
        lease_id = None
        if self.limits.concurrency:
            lease_id = uuid.uuid4().hex
            while not self._acquire(
                keys=[self.key("concurrency")], args=[self.limits.concurrency, lease_id, lease_s]
            ):
                time.sleep(self.poll_s * (0.5 + random.random()))
        try:
            yield _RedisLease(self, estimated_tokens)
        finally:
            if lease_id is not None:
                self.client.zrem(self.key("concurrency"), lease_id)


class _AsyncRedisLease:
    def __init__(self, limiter: AsyncRedisLimiter, estimated: int):
        self._limiter = limiter
        self._estimated = estimated
        self.actual_tokens: int | None = None

    def settle(self, *, actual_tokens: int | None) -> None:
        # Sent to Redis when the slot is given back (`settle` is called from sync code).
        self.actual_tokens = actual_tokens


class AsyncRedisLimiter:
    """`RedisLimiter` on an event loop, through `redis.asyncio`: the same keys and scripts, so
    threads, event loops and other machines share one limit. Its client belongs to one loop."""

    poll_s = RedisLimiter.poll_s

    def __init__(self, limits: RateLimits, *, scope: str, client: Any):
        self.limits = limits
        self.scope = scope
        self.client = client
        self._reserve = client.register_script(_BUCKET_RESERVE)
        self._adjust = client.register_script(_BUCKET_ADJUST)
        self._acquire = client.register_script(_SEM_ACQUIRE)

    def key(self, part: str) -> str:
        return f"llm:ratelimit:{self.scope}:{part}"

    async def _bucket_wait(self, part: str, per_minute: int, amount: int) -> float:
        micros = await self._reserve(
            keys=[self.key(part)], args=[per_minute, per_minute / 60.0, amount]
        )
        return int(micros) / 1_000_000

    @asynccontextmanager
    async def aslot(
        self, *, estimated_tokens: int, lease_s: float
    ) -> AsyncIterator[_AsyncRedisLease]:
        wait = 0.0
        if self.limits.requests_per_minute:
            wait = max(wait, await self._bucket_wait("rpm", self.limits.requests_per_minute, 1))
        if self.limits.tokens_per_minute:
            wait = max(
                wait,
                await self._bucket_wait("tpm", self.limits.tokens_per_minute, estimated_tokens),
            )
        if wait > 0:
            await asyncio.sleep(wait)
        lease_id = None
        if self.limits.concurrency:
            lease_id = uuid.uuid4().hex
            while not await self._acquire(
                keys=[self.key("concurrency")], args=[self.limits.concurrency, lease_id, lease_s]
            ):
                await asyncio.sleep(self.poll_s * (0.5 + random.random()))
        lease = _AsyncRedisLease(self, estimated_tokens)
        try:
            yield lease
        finally:
            if lease_id is not None:
                await self.client.zrem(self.key("concurrency"), lease_id)
            tpm = self.limits.tokens_per_minute
            if tpm and lease.actual_tokens is not None:
                await self._adjust(
                    keys=[self.key("tpm")], args=[tpm, lease.actual_tokens - estimated_tokens]
                )


# --- registry ---------------------------------------------------------------------------------

_LIMITERS: dict[tuple, LocalLimiter | RedisLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_scope(config: LLMConfig) -> str:
    if config.provider == Provider.COMPATIBLE:
        digest = hashlib.sha256((config.base_url or "").encode()).hexdigest()[:16]
        return f"compatible:{digest}"
    return str(config.provider)


def redis_url() -> str:
    """Where the shared limits live ('' for in-process limits)."""
    return settings.LLM_RATELIMIT_REDIS_URL or settings.REDIS_URL


def limiter_for(config: LLMConfig) -> Limiter | None:
    """The limiter shared by every call to this provider (None when no limit is set)."""
    limits = limits_for(config.provider)
    if limits.unlimited:
        return None
    scope = limiter_scope(config)
    url = redis_url()
    key = (scope, limits, url)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = RedisLimiter(limits, scope=scope, url=url) if url else LocalLimiter(limits)
            _LIMITERS[key] = limiter
        return limiter


def async_limiter_for(config: LLMConfig, *, redis_client: Any = None) -> AsyncLimiter | None:
    """The limiter of `limiter_for` for an event loop: the process's `LocalLimiter` itself, or an
    `AsyncRedisLimiter` on `redis_client` (a `redis.asyncio` client of the caller's loop, for
    `redis_url()`). None when no limit is set."""
    limits = limits_for(config.provider)
    if limits.unlimited:
        return None
    if redis_url():
        if redis_client is None:
            raise ValueError("Shared (Redis) limits need the event loop's redis.asyncio client.")
        return AsyncRedisLimiter(limits, scope=limiter_scope(config), client=redis_client)
    limiter = limiter_for(config)
    assert isinstance(limiter, LocalLimiter)
    return limiter
