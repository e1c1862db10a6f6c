"""A small cache inside one web process, in front of the shared cache (Redis) on the hot read paths.

A Redis round trip costs a request about 0.13 ms of the web process's CPU before the value is
unpickled (measured in-process, README "Serving"), and the hot read endpoints made five of them.
What is kept here is read without one. Values are bytes, so nothing kept is shared between
requests as a live object (a request unpickles or sends its own copy), and the size in bytes is
bounded. Entries also have a lifetime: what a process keeps can be older than the database or
Redis by at most that long, which is why each user of this cache says what may be kept and for
how long (`accounts.services`, `environment.selectors`, `studies.api.views`).

Every instance is registered so that `process_caches_clear` empties them all (tests, and the
signals that must end a revoked credential in this process at once).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable

_ALL: weakref.WeakSet[ProcessCache] = weakref.WeakSet()
# Other per-process caches (of live objects, not bytes) that `process_caches_clear` empties too.
_CLEARERS: list[Callable[[], None]] = []


class ProcessCache:
    """A thread-safe least-recently-used map of str to bytes, bounded by total bytes, with a
    lifetime per entry. A value larger than the whole bound is not kept."""

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        _ALL.add(self)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires <= time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, *, seconds: float) -> None:
        if seconds <= 0 or len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (time.monotonic() + seconds, value)
            self._bytes += len(value)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def delete(self, key: str) -> None:
        with self._lock:
            if key in self._entries:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        _expires, value = self._entries.pop(key)
        self._bytes -= len(value)


def process_cache_register(clear: Callable[[], None]) -> Callable[[], None]:
    """Have `process_caches_clear` call `clear` too (a cache of another shape); returns it."""
    _CLEARERS.append(clear)
    return clear


def process_caches_clear() -> None:
    """Empty every process cache of this process."""
    for process_cache in list(_ALL):
        process_cache.clear()
    for clear in _CLEARERS:
        clear()
