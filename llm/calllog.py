"""The call log's write side: rows and cache entries a call leaves, held in a `CallBuffer` and
written together, and who a call is for (`CallContext`)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection

from llm import aio, services
from llm.models import LLMCall

# SQLite has one writer at a time and makes the others poll for the lock with sleeps growing to
# 100 ms (its busy handler): with dozens of threads each writing their calls, most of a run went to
# those sleeps, and a starved writer could even exceed the busy timeout. Queueing the gateway's own
# writes on a lock hands the write lock from one thread to the next at once. (A run's engine threads
# no longer write: the chunk writer logs their calls; the lock still serves direct gateway calls
# made from several threads.) PostgreSQL takes concurrent inserts as they come.
_SQLITE_WRITES = threading.Lock()


@contextmanager
def _db_write() -> Iterator[None]:
    # Inside a caller's transaction this thread may already hold SQLite's write lock; waiting here
    # while another thread waits for that lock would stall both until the busy timeout.
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with _SQLITE_WRITES:
        yield


class CallBuffer:
    """Call-log rows and cache entries held back and written together by `flush()`.

    A call written as it happens cost two inserts (the cache entry inside a savepoint) and, on
    SQLite, two turns at the write lock. The persona engine fills one buffer per persona and the
    run pipeline writes it with the persona's record, a batch of personas to a transaction. A
    gateway call given no buffer flushes its own before it returns or raises.
    """

    def __init__(self) -> None:
        self.calls: list[LLMCall] = []
        self.cache: list[Any] = []

    def __len__(self) -> int:
        return len(self.calls) + len(self.cache)

    def extend(self, other: CallBuffer) -> None:
        """Take over another buffer's rows (it is left empty), to write many in one go."""
        self.calls += other.calls
        self.cache += other.cache
        other.calls, other.cache = [], []

    def flush(self) -> None:
        if not (self.calls or self.cache):
            return
        with _db_write():
            services.llm_calls_write(calls=self.calls, cache=self.cache)
        self.calls, self.cache = [], []


@contextmanager
def buffered(buffer: CallBuffer | None) -> Iterator[CallBuffer]:
    if buffer is not None:
        yield buffer
        return
    own = CallBuffer()
    try:
        yield own
    finally:
        own.flush()  # what was tried is logged, even when the call raises


@asynccontextmanager
async def abuffered(buffer: CallBuffer | None) -> AsyncIterator[CallBuffer]:
    if buffer is not None:
        yield buffer
        return
    own = CallBuffer()
    try:
        yield own
    finally:
        if len(own):
            await aio.run_db(own.flush)


@dataclass(frozen=True)
class CallContext:
    """Who the call is for; copied onto every call-log row."""

    sample_index: int = 0
    label: str = ""
    run_id: int | None = None
    persona_id: int | None = None
