"""What the model calls of one event loop share, and Django work asked for from the loop.

A `Session` is what one loop's calls share: the providers' HTTP clients (aiohttp sessions sending
what the SDKs would send, `llm.providers.http`) and the `redis.asyncio` client of the shared rate
limits, which belong to the loop and are closed with it; the cache reader that gathers the keys
asked for in one turn of the loop into one query; and the outbound check of each server, repeated
at most every `OUTBOUND_RECHECK_S`. Database work never runs on the loop's thread: the session's
`run_db` hands it to the thread that owns the loop's Django connection (`llm.loops`), or runs it
thread-sensitively under `async_to_sync`; its `read_db` hands reads (the cache look-ups) to a
thread with a connection of its own when the loop has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

from llm import selectors
from llm.outbound import check_outbound
from llm.providers.base import ProviderReply
from llm.ratelimit import AsyncLimiter, async_limiter_for, redis_url
from llm.slots import RequestSlots
from llm.types import LLMConfig

T = TypeVar("T")

# A server's name is resolved again (and its addresses checked) at most this often per loop: once
# per call cost a DNS look-up per call on the loop's only thread.
OUTBOUND_RECHECK_S = 5.0

DbRunner = Callable[..., Awaitable[Any]]


async def _thread_sensitive(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    # Under `async_to_sync` this is the thread that called it (asgiref's thread-sensitive mode).
    return await sync_to_async(fn, thread_sensitive=True)(*args, **kwargs)


class _CacheReader:
    """Reads the cache for the keys asked for in one turn of the loop with one query."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._pending: dict[str, list[asyncio.Future[ProviderReply | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.queries = 0
        self.keys = 0

    async def get(self, key: str) -> ProviderReply | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ProviderReply | None] = loop.create_future()
        self._pending.setdefault(key, []).append(future)
        if self._task is None:
            self._task = loop.create_task(self._read())
        return await future

    async def _read(self) -> None:
        # The calls woken in this turn of the loop (a batch of replies, a chunk's first steps) ask
        # for their keys before the query goes out.
        await asyncio.sleep(0)
        batch, self._pending, self._task = self._pending, {}, None
        self.queries += 1
        self.keys += len(batch)
        try:
            found = await self._session.read_db(selectors.cached_responses_get, keys=list(batch))
        except BaseException as exc:
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for key, futures in batch.items():
            for future in futures:
                if not future.done():
                    future.set_result(found.get(key))


class Session:
    """What the model calls of one event loop share; see the module's docstring."""

    def __init__(
        self,
        *,
        run_db: DbRunner | None = None,
        read_db: DbRunner | None = None,
        requests: int | None = None,
    ) -> None:
        self._run_db = run_db or _thread_sensitive
        self._read_db = read_db or self._run_db
        # The model requests this loop has on the wire at once, when bounded (`request_slot`).
        self._requests = RequestSlots(requests) if requests else None
        self._clients: dict[tuple, Any] = {}
        self._redis: Any = None
        self._limiters: dict[tuple, AsyncLimiter | None] = {}
        self._checked: dict[tuple, float] = {}
        self.cache = _CacheReader(self)

    async def run_db(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` where Django may run it (never on the loop's thread)."""
        return await self._run_db(fn, *args, **kwargs)

    async def read_db(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)`, which only reads, where Django may run it: on a thread with a
        connection of its own when the loop has one (`llm.loops`), so a read does not wait while
        the thread of `run_db` writes; else as `run_db`."""
        return await self._read_db(fn, *args, **kwargs)

    def request_slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Held while one request is sent and its reply read: at most the session's `requests`
        at once (no bound when it has none). Cache look-ups, prompt building and parsing happen
        outside it, so tasks in between calls leave the slots to tasks ready to send. A freed slot
        goes to the first to ask, or to the item that has sent the fewest requests once the last
        items have started (`llm.slots`)."""
        return self._requests if self._requests is not None else contextlib.nullcontext()

    def prefer_fewest_sent(self) -> None:
        """The last items have started: see `llm.slots`."""
        if self._requests is not None:
            self._requests.prefer_fewest_sent()

    def client(self, adapter: Any, *, config: LLMConfig, api_key: str) -> Any:
        key = (type(adapter), config.base_url, api_key, config.timeout_s)
        client = self._clients.get(key)
        if client is None:
            client = adapter.async_client(
                base_url=config.base_url, api_key=api_key, timeout_s=config.timeout_s
            )
            self._clients[key] = client
        return client

    def limiter(self, config: LLMConfig) -> AsyncLimiter | None:
        url = redis_url()
        key = (config.provider, config.base_url, url)
        if key not in self._limiters:
            if url and self._redis is None:
                import redis.asyncio

                self._redis = redis.asyncio.Redis.from_url(url)
            self._limiters[key] = async_limiter_for(config, redis_client=self._redis)
        return self._limiters[key]

    async def check_outbound(self, config: LLMConfig) -> None:
        """`llm.outbound.check_outbound`, repeated at most every OUTBOUND_RECHECK_S per server;
        the name is resolved off the loop's thread."""
        key = (config.base_url, config.key)
        now = time.monotonic()
        if now - self._checked.get(key, -OUTBOUND_RECHECK_S) < OUTBOUND_RECHECK_S:
            return
        if config.base_url:
            await asyncio.to_thread(check_outbound, base_url=config.base_url, key=config.key)
        else:
            check_outbound(base_url=None, key=config.key)
        self._checked[key] = now

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


_CURRENT: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "llm_session", default=None
)


@asynccontextmanager
async def session(
    *,
    run_db: DbRunner | None = None,
    read_db: DbRunner | None = None,
    requests: int | None = None,
) -> AsyncIterator[Session]:
    """The calls made inside share this session; its clients are closed when it ends."""
    current = Session(run_db=run_db, read_db=read_db, requests=requests)
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)
        await current.aclose()


@asynccontextmanager
async def current_or_new() -> AsyncIterator[Session]:
    """The caller's session, or one for this call alone."""
    existing = _CURRENT.get()
    if existing is not None:
        yield existing
        return
    async with session() as new:
        yield new


def current() -> Session | None:
    return _CURRENT.get()


async def run_db(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run Django work for the current loop (its session's runner, else thread-sensitive)."""
    existing = _CURRENT.get()
    if existing is not None:
        return await existing.run_db(fn, *args, **kwargs)
    return await _thread_sensitive(fn, *args, **kwargs)
