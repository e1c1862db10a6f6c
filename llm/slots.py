"""The request slots of one event loop: a bound on the model requests on the wire at once, handed
out first come, first served, and fewest-sent-first once the last items have started.

A chunk's personas are chains of calls (analyze, context, experience, participation), each waiting
for the one before. Which waiting call gets a freed slot does not change how many are in flight
while there are more personas to start, but it decides how a run ends: first come, first served
makes the last personas to start queue behind the older ones at every step, so the run ends with a
handful of them sending their last steps one after another while most slots stand idle (in the LLM
engine bench, 8 of 50 slots busy for the last 0.6 s). Once the last items have started
(`prefer_fewest_sent`, called by `llm.loops.results_on_loop`), a freed slot goes to the item that
has sent the fewest requests so far: the one with the longest chain left when the chains are
alike (Hu's rule, which gives the shortest schedule for chains of equal-length tasks that are all
under way), so the late items catch up.

Fewest-sent-first is not kept for the whole run: newly started personas then go ahead of older
ones, which fall into step with each other and come back to the calling thread for their database
work in bursts; in that bench the slots stood idle more often (44 in flight on average, not 48)
and the run took 19.2 s where first come, first served took 17.6 s.

An item's count is kept in a context variable that `item_scope` opens for each item (the tasks of
`results_on_loop` open one per persona); calls outside any scope count as having sent none.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

# The requests sent so far by the item the current task is working on (a one-element list, shared
# by the subtasks the item starts).
_SENT: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "llm_requests_sent", default=None
)


@contextmanager
def item_scope() -> Iterator[None]:
    """The requests made inside count as one item's (see the module's docstring)."""
    token = _SENT.set([0])
    try:
        yield
    finally:
        _SENT.reset(token)


class RequestSlots:
    """At most `limit` held at once (`async with slots:`); a freed slot goes to the first waiter to
    ask or, after `prefer_fewest_sent()`, to the one whose item has sent the fewest requests."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a request bound must be at least 1, not {limit}")
        self._free = limit
        # (rank, order asked, requests its item had sent, future): the rank is 0 until
        # `prefer_fewest_sent`, then the requests sent.
        self._waiters: list[tuple[int, int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._fewest_sent = False

    def prefer_fewest_sent(self) -> None:
        """From now on a freed slot goes to the waiter whose item has sent the fewest requests."""
        if not self._fewest_sent:
            self._fewest_sent = True
            self._waiters = [(sent, order, sent, f) for _, order, sent, f in self._waiters]
            heapq.heapify(self._waiters)

    async def __aenter__(self) -> None:
        sent = _SENT.get()
        if self._free > 0:  # then no one is waiting: a freed slot goes to a waiter first
            self._free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            count = sent[0] if sent is not None else 0
            rank = count if self._fewest_sent else 0
            heapq.heappush(self._waiters, (rank, next(self._order), count, future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # handed a slot, then cancelled before taking it
                raise
        if sent is not None:
            sent[0] += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            *_, future = heapq.heappop(self._waiters)
            if not future.done():  # a cancelled waiter's future is done
                future.set_result(None)
                return
        self._free += 1
