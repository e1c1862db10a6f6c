"""The request slots of an event loop (`llm.slots`): fewest-sent-first, and the last items of
`results_on_loop` starting together."""

from __future__ import annotations

import asyncio

import pytest

from llm import loops
from llm.slots import RequestSlots, item_scope


def _order_served(*, fewest_sent: bool) -> list[str]:
    """Four items that have sent 3, 0, 1 and 0 requests wait, in that order, for a held slot."""
    order: list[str] = []

    async def main() -> None:
        slots = RequestSlots(1)
        gate = asyncio.Event()

        async def item(name: str, sent_before: int) -> None:
            with item_scope():
                for _ in range(sent_before):  # requests this item already made
                    async with slots:
                        pass
                await gate.wait()
                async with slots:
                    order.append(name)

        tasks = [
            asyncio.create_task(item(name, sent))
            for name, sent in [("three", 3), ("none", 0), ("one", 1), ("none-too", 0)]
        ]
        await asyncio.sleep(0.01)  # each has made its earlier requests and waits at the gate
        async with slots:  # every item below has to wait for this one
            gate.set()
            await asyncio.sleep(0.01)  # each now waits for the slot, in the order they were made
            if fewest_sent:
                slots.prefer_fewest_sent()  # the waiters already in line are reordered too
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return order


def test_a_freed_slot_goes_to_the_first_to_ask_while_items_are_left_to_start():
    assert _order_served(fewest_sent=False) == ["three", "none", "one", "none-too"]


def test_once_the_last_items_started_a_freed_slot_goes_to_the_fewest_sent():
    # Fewest sent first; between equals, the first to ask.
    assert _order_served(fewest_sent=True) == ["none", "none-too", "one", "three"]


def test_the_slots_bound_the_holders_and_survive_a_cancelled_waiter():
    async def main() -> tuple[int, int]:
        slots = RequestSlots(2)
        held = {"now": 0, "most": 0}

        async def hold() -> None:
            async with slots:
                held["now"] += 1
                held["most"] = max(held["most"], held["now"])
                await asyncio.sleep(0.01)
                held["now"] -= 1

        async with slots, slots:
            doomed = asyncio.create_task(hold())
            await asyncio.sleep(0.01)
            doomed.cancel()  # cancelled while waiting: its place must not swallow a slot
            others = [asyncio.create_task(hold()) for _ in range(6)]
            await asyncio.sleep(0.01)
        await asyncio.gather(*others)
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return held["most"], slots._free

    most, free = asyncio.run(main())

    assert most == 2 and free == 2


def test_a_request_bound_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        RequestSlots(0)


def test_the_last_items_start_together_and_go_first(monkeypatch):
    """Chains of four calls: 12 items, 4 under way, 2 requests on the wire. Once two items are
    left to start, both start at once (5 under way, beyond the 4), and from then on a freed slot
    goes to no item that has sent more requests than one left waiting."""
    under_way = {"now": 0, "most": 0}
    # At each hand-out of a freed slot to a waiter: (fewest-sent-first on, the requests the
    # chosen one's item had sent, those of the items left waiting). Taken when the slot is handed
    # out: an item that starts waiting after that is not passed over.
    handed: list[tuple[bool, int, list[int]]] = []
    release = RequestSlots._release

    def recording_release(self: RequestSlots) -> None:
        live = [w for w in self._waiters if not w[3].done()]
        if live:
            chosen = min(live, key=lambda w: w[:2])  # the heap's order: rank, then arrival
            left = sorted(w[2] for w in live if w is not chosen)
            handed.append((self._fewest_sent, chosen[2], left))
        release(self)

    monkeypatch.setattr(RequestSlots, "_release", recording_release)

    async def work(n: int) -> int:
        from llm import aio

        under_way["now"] += 1
        under_way["most"] = max(under_way["most"], under_way["now"])
        slots = aio.current().request_slot()
        for _ in range(4):
            async with slots:
                await asyncio.sleep(0.005 * (1 + n % 3))  # replies that come back out of step
            await asyncio.sleep(0)
        under_way["now"] -= 1
        return n

    got = dict(loops.results_on_loop(work, list(range(12)), concurrency=4, requests=2))

    assert sorted(got) == list(range(12))
    assert under_way["most"] == 4 + 1  # three of the first ten, then both last ones
    after = [(sent, left) for fewest, sent, left in handed if fewest]
    assert after and all(not left or sent <= min(left) for sent, left in after), after
    # Before then, first come, first served: some item went ahead of one that had sent fewer.
    before = [(sent, left) for fewest, sent, left in handed if not fewest]
    assert any(left and sent > min(left) for sent, left in before), before
