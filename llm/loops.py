"""The event loop a worker process makes its model calls on, run for a synchronous caller.

A run's chunk answers its personas as tasks of one asyncio loop (`results_on_loop`): hundreds of
calls can be in flight at the cost of a task each, where a thread each cost a stack and a share of
the interpreter lock. The loop runs on a thread of its own; the thread that asked for the results
(the chunk task's) keeps everything Django: it runs the loop's database work (`Session.run_db`:
cache look-ups, a lazily read price or area) between taking results, and writes the results, so the
run's connection, its transaction and SQLite's single writer stay on one thread. `CallsOnLoop` does
the same for callers that decide what to ask next from the answers so far (deliberation rounds).
The calls of one loop share an `llm.aio.Session`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeVar

from django.db import connection, connections

from config.database import database_shared_with_other_connections
from llm.aio import session
from llm.slots import item_scope

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


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


class _Reader:
    """A thread with a database connection of its own for the loop's reads (`Session.read_db`:
    the cache look-ups), so they are not queued behind the calling thread while it writes a
    batch, or waits for another process's write to end (SQLite has one writer at a time). Asked
    for by a chunk that is one of several processes' (`studies.lanes`): in the large LLM bench the
    calling thread's jobs waited 11-15 ms on average there (p90 22-41 ms) and the run took 53.0
    and 54.8 s without this reader against 48.4 and 52.5 s with it (two interleaved pairs). In one
    process it brought no gain for more CPU (README, Benchmarks). Only where another connection
    sees what the caller's sees: not inside the caller's transaction (a test's), nor on an
    in-memory SQLite database."""

    def __init__(self) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="llm-reader"
        )

    @staticmethod
    def usable() -> bool:
        if connection.in_atomic_block:
            return False
        return database_shared_with_other_connections()

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        # The reader thread's own connection: `connections` resolves it on that thread.
        self.pool.submit(connections.close_all).result()
        self.pool.shutdown()


def results_on_loop(
    work: Callable[[T], Awaitable[R]],
    items: Sequence[T],
    *,
    concurrency: int,
    dropped: list[R] | None = None,
    requests: int | None = None,
    separate_reads: bool = False,
) -> Generator[tuple[T, R], None, None]:
    """(item, await work(item)) as each finishes, at most `concurrency` at once, on an event loop
    running in a thread of its own inside a `Session` whose database work runs on the calling
    thread while it waits for the next result, and which sends at most `requests` model requests
    at once when given (`Session.request_slot`). With `requests` given, the last `requests` items
    start together, beyond `concurrency`, and from then on the item that has sent the fewest
    requests goes first (`llm.slots`).

    With `separate_reads`, the loop's reads run on a thread of their own (`_Reader`).

    An exception from `work` stops the hand-outs and is raised here, as from a future. Closing the
    generator stops the hand-outs too; the items in flight finish and their results go to
    `dropped`.
    """
    jobs = _CallerJobs()
    reader = _Reader() if separate_reads and _Reader.usable() else None
    stop = threading.Event()
    # The loop runs in the caller's context (its trace span, for the calls' spans to be children).
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run,
        args=(_run_loop, work, items, concurrency, requests, jobs, reader, stop),
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
        if reader is not None:
            reader.close()


def _run_loop(
    work: Callable[[Any], Awaitable[Any]],
    items: Sequence[Any],
    concurrency: int,
    requests: int | None,
    jobs: _CallerJobs,
    reader: _Reader | None,
    stop: threading.Event,
) -> None:
    """The loop's thread: `concurrency` workers take the items in turn until none is left or
    `stop` is set; each result or error goes to the caller's queue, then "done"."""

    async def main() -> None:
        read_db = reader.run if reader is not None else None
        async with session(run_db=jobs.run, read_db=read_db, requests=requests) as shared:
            waiting = collections.deque(items)
            last_ones: list[asyncio.Task] = []

            async def one(item: Any) -> bool:
                """Work on one item; False when the hand-outs are to stop."""
                with item_scope():
                    try:
                        result = await work(item)
                    except Exception as exc:
                        stop.set()
                        jobs.inbox.put(("error", item, exc))
                        return False
                jobs.inbox.put(("result", item, result))
                return not stop.is_set()

            async def worker() -> None:
                while waiting and not stop.is_set():
                    if requests and len(waiting) <= requests:
                        # The last items start at once: they would otherwise start one by one as
                        # others finish, and end the run as chains of calls on a few slots.
                        # Taking fewest-sent-first (`llm.slots`), they catch up with the others.
                        shared.prefer_fewest_sent()
                        while waiting:
                            last_ones.append(asyncio.create_task(one(waiting.popleft())))
                        return
                    if not await one(waiting.popleft()):
                        return

            await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(items))))))
            await asyncio.gather(*last_ones)

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
