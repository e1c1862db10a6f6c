"""The event loop a worker process makes its model calls on.

A run's chunk answers its personas as tasks of one asyncio loop (`results_on_loop`): hundreds of
calls can be in flight at the cost of a task each, where a thread each cost a stack and a share of
the interpreter lock. The loop runs on a thread of its own; the thread that asked for the results
(the chunk task's) keeps everything Django: it runs the loop's database work (`Session.run_db`:
cache look-ups, a lazily read price or area) between taking results, and writes the results, so the
run's connection, its transaction and SQLite's single writer stay on one thread.

A `Session` is what one loop's calls share: the providers' HTTP clients (aiohttp sessions sending
what the SDKs would send, `llm.providers.http`) and the `redis.asyncio` client of the shared rate
limits, which belong to the loop and are closed with it; the cache reader that gathers the keys
asked for in one turn of the loop into one query; and the outbound check of each server, repeated
at most every `OUTBOUND_RECHECK_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

from llm import selectors
from llm.outbound import check_outbound
from llm.providers.base import ProviderReply
from llm.ratelimit import AsyncLimiter, async_limiter_for, redis_url
from llm.types import LLMConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

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
            found = await self._session.run_db(selectors.cached_responses_get, keys=list(batch))
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

    def __init__(self, *, run_db: DbRunner | None = None, requests: int | None = None) -> None:
        self._run_db = run_db or _thread_sensitive
        # The model requests this loop has on the wire at once, when bounded (`request_slot`).
        self._requests = asyncio.Semaphore(requests) if requests else None
        self._clients: dict[tuple, Any] = {}
        self._redis: Any = None
        self._limiters: dict[tuple, AsyncLimiter | None] = {}
        self._checked: dict[tuple, float] = {}
        self.cache = _CacheReader(self)

    async def run_db(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` where Django may run it (never on the loop's thread)."""
        return await self._run_db(fn, *args, **kwargs)

    def request_slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Held while one request is sent and its reply read: at most the session's `requests`
        at once (no bound when it has none). Cache look-ups, prompt building and parsing happen
        outside it, so tasks in between calls leave the slots to tasks ready to send."""
        return self._requests if self._requests is not None else contextlib.nullcontext()

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
    *, run_db: DbRunner | None = None, requests: int | None = None
) -> AsyncIterator[Session]:
    """The calls made inside share this session; its clients are closed when it ends."""
    current = Session(run_db=run_db, requests=requests)
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


def run_event_loop(main: Awaitable[T]) -> T:
    """`asyncio.run(main)` on uvloop's event loop where it is installed (uvicorn's standard extra
    brings it outside Windows), else on asyncio's own. uvloop runs the loop's own machinery
    (sockets, callbacks, tasks) in C: the engine's CPU a call on the embedded LLM bench went from
    2.31 and 2.43 to 2.00 and 2.04 ms (two interleaved pairs)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)  # type: ignore[arg-type]


# --- a chunk's results, from a loop of their own ------------------------------------------------


def _settle(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class _CallerJobs:
    """Work the loop hands to the calling thread, and the loop's results, in one queue."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """A `DbRunner`: `fn` runs on the calling thread when it next reads the queue."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.inbox.put(("job", (fn, args, kwargs), (loop, future)))
        return await future

    @staticmethod
    def serve(payload: tuple, target: tuple) -> None:
        fn, args, kwargs = payload
        loop, future = target
        try:
            value, error = fn(*args, **kwargs), None
        except BaseException as exc:
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # RuntimeError: the loop has ended
            loop.call_soon_threadsafe(_settle, future, value, error)


def results_on_loop(
    work: Callable[[T], Awaitable[R]],
    items: Sequence[T],
    *,
    concurrency: int,
    dropped: list[R] | None = None,
    requests: int | None = None,
) -> Generator[tuple[T, R], None, None]:
    """(item, await work(item)) as each finishes, at most `concurrency` at once, on an event loop
    running in a thread of its own inside a `Session` whose database work runs on the calling
    thread while it waits for the next result, and which sends at most `requests` model requests
    at once when given (`Session.request_slot`).

    An exception from `work` stops the hand-outs and is raised here, as from a future. Closing the
    generator stops the hand-outs too; the items in flight finish and their results go to
    `dropped`.
    """
    jobs = _CallerJobs()
    stop = threading.Event()
    # The loop runs in the caller's context (its trace span, for the calls' spans to be children).
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run,
        args=(_run_loop, work, items, concurrency, requests, jobs, stop),
        name="llm-loop",
        daemon=True,
    )
    thread.start()
    finished = False
    try:
        while True:
            kind, first, second = jobs.inbox.get()
            if kind == "job":
                jobs.serve(first, second)
            elif kind == "result":
                yield first, second
            elif kind == "error":
                raise second
            else:
                finished = True
                return
    finally:
        stop.set()
        if not finished:
            _drain(jobs, dropped)
        thread.join()


def _run_loop(
    work: Callable[[Any], Awaitable[Any]],
    items: Sequence[Any],
    concurrency: int,
    requests: int | None,
    jobs: _CallerJobs,
    stop: threading.Event,
) -> None:
    """The loop's thread: `concurrency` workers take the items in turn until none is left or
    `stop` is set; each result or error goes to the caller's queue, then "done"."""

    async def main() -> None:
        async with session(run_db=jobs.run, requests=requests):
            pending = iter(items)

            async def worker() -> None:
                for item in pending:
                    try:
                        result = await work(item)
                    except Exception as exc:
                        stop.set()
                        jobs.inbox.put(("error", item, exc))
                        return
                    jobs.inbox.put(("result", item, result))
                    if stop.is_set():
                        return

            await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(items))))))

    try:
        run_event_loop(main())
    except BaseException as exc:
        jobs.inbox.put(("error", None, exc))
    finally:
        jobs.inbox.put(("done", None, None))


def _drain(jobs: _CallerJobs, dropped: list | None) -> None:
    """Serve the loop until it ends (the calls in flight finish), keeping their results."""
    while True:
        kind, first, second = jobs.inbox.get()
        if kind == "job":
            jobs.serve(first, second)
        elif kind == "result" and dropped is not None:
            dropped.append(second)
        elif kind == "error":
            logger.warning("A call in flight at the stop failed: %s", second)
        elif kind == "done":
            return


# --- calls the calling thread hands out one by one ----------------------------------------------


class CallsOnLoop:
    """An event loop on a thread of its own running the coroutines the calling thread submits, at
    most `concurrency` at once, inside a `Session` whose database work runs on the calling thread
    while it waits in `result()`: for callers that decide what to ask next from the answers so far
    (the deliberation rounds), where `results_on_loop` takes a fixed list.

        with CallsOnLoop(concurrency=25) as calls:
            calls.submit(key, work, *args)      # `await work(*args)` on the loop
            key, value, error = calls.result()  # the next to finish, with its error if it raised

    Leaving the block lets the calls in flight finish (their results are dropped) and closes the
    session.
    """

    def __init__(self, *, concurrency: int) -> None:
        self._jobs = _CallerJobs()
        self._concurrency = max(1, concurrency)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._started = threading.Event()
        self._ended = False  # `result()` took the loop's last message
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._main,), name="llm-calls", daemon=True
        )

    def __enter__(self) -> CallsOnLoop:
        self._thread.start()
        self._started.wait()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._closing is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._closing.set)
        if not self._ended:
            _drain(self._jobs, None)
        self._thread.join()

    def submit(self, key: Any, work: Callable[..., Awaitable[Any]], /, *args: Any) -> None:
        assert self._loop is not None, "use CallsOnLoop as a context manager"
        # In the loop's context (its session), not this thread's, which a callback would get.
        self._loop.call_soon_threadsafe(self._start, key, work, args, context=self._context)

    def result(self) -> tuple[Any, Any, BaseException | None]:
        """The next call to finish: (key, value, None), or (key, None, the exception it raised).
        Serves the loop's database work while it waits."""
        while True:
            kind, first, second = self._jobs.inbox.get()
            if kind == "job":
                self._jobs.serve(first, second)
            elif kind == "result":
                return first, second, None
            elif kind == "error" and first is not _LOOP:
                return first, None, second
            else:  # the loop itself failed or ended: nothing more will come
                self._ended = kind == "done"
                raise RuntimeError("the calls' event loop has stopped") from (
                    second if kind == "error" else None
                )

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._closing = asyncio.Event()
            self._slots = asyncio.Semaphore(self._concurrency)
            self._tasks: set[asyncio.Task] = set()
            async with session(run_db=self._jobs.run):
                self._context = contextvars.copy_context()
                self._started.set()
                await self._closing.wait()
                while self._tasks:
                    await asyncio.gather(*self._tasks, return_exceptions=True)

        try:
            run_event_loop(main())
        except BaseException as exc:
            self._jobs.inbox.put(("error", _LOOP, exc))
        finally:
            self._started.set()
            self._jobs.inbox.put(("done", None, None))

    def _start(self, key: Any, work: Callable[..., Awaitable[Any]], args: tuple) -> None:
        task = asyncio.get_running_loop().create_task(self._call(key, work, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, key: Any, work: Callable[..., Awaitable[Any]], args: tuple) -> None:
        async with self._slots:
            try:
                value = await work(*args)
            except BaseException as exc:
                self._jobs.inbox.put(("error", key, exc))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return
        self._jobs.inbox.put(("result", key, value))


_LOOP = object()  # the key of an error of the loop itself, not of a call
