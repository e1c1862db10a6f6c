"""The gateway's asyncio path (`acomplete_*`, `llm.aio`): hundreds of calls in flight on one event
loop, the cache read in bulk, the limiters' asyncio faces, retries and Retry-After."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Literal

import pytest
import redis
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydantic import BaseModel

from llm import aio, loops, ratelimit, selectors
from llm.gateway import (
    CallBuffer,
    LLMConfig,
    PriceBook,
    ProviderError,
    acomplete_structured,
    acomplete_text,
    complete_text,
)
from llm.models import CachedResponse, LLMCall
from llm.ratelimit import AsyncRedisLimiter, LocalLimiter, RateLimits
from tests.llm.conftest import FAST_RETRY
from tests.llm.fake_llm_server import error, reply, sleep
from tests.redis_db import redis_test_url

pytestmark = pytest.mark.django_db

REDIS_TEST_URL = redis_test_url("async")


class Verdict(BaseModel):
    support: Literal["yes", "no"]


def _config(fake_llm, provider: str = "openai") -> LLMConfig:
    base = fake_llm.anthropic_base_url if provider == "anthropic" else fake_llm.openai_base_url
    return LLMConfig(provider=provider, model="m-async", base_url=base, timeout_s=30)


def _ask_many(config: LLMConfig, n: int, buffer: CallBuffer) -> tuple[float, aio.Session]:
    """n structured calls at once on one loop (run from this thread, which does the database
    work), at one price read beforehand, as a run's engine does; returns the wall time and the
    session."""
    prices = PriceBook(config)
    prices.get()

    async def main():
        async with aio.session() as session:
            started = time.perf_counter()
            results = await asyncio.gather(
                *(
                    acomplete_structured(
                        config=config,
                        messages=[{"role": "user", "content": f"question {i}"}],
                        schema=Verdict,
                        buffer=buffer,
                        prices=prices,
                        retry=FAST_RETRY,
                    )
                    for i in range(n)
                )
            )
            assert all(r.value.support == "yes" for r in results)
            return time.perf_counter() - started, session

    return async_to_sync(main)()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_two_hundred_calls_in_flight_take_about_one_latency(fake_llm, provider):
    fake_llm.latency_s = 1.0
    fake_llm.default_content = '{"support": "yes"}'
    buffer = CallBuffer()

    wall, _ = _ask_many(_config(fake_llm, provider), 200, buffer)
    buffer.flush()

    assert len(fake_llm.requests) == 200
    assert fake_llm.max_in_flight >= 150  # all of them at once, give or take the connects
    # One after another they would take 200 s, twenty at a time 10 s; at once, one latency plus
    # the client's work (about 1.5 s on a quiet machine; the bound leaves room for a busy one).
    assert wall < 8.0
    assert LLMCall.objects.filter(status="ok").count() == 200
    assert CachedResponse.objects.count() == 200


def test_a_cached_batch_is_read_in_one_query_and_sends_nothing(fake_llm):
    fake_llm.default_content = '{"support": "yes"}'
    config = _config(fake_llm)
    first = CallBuffer()
    _ask_many(config, 120, first)
    first.flush()
    fake_llm.reset()

    again = CallBuffer()
    with CaptureQueriesContext(connection) as queries:
        _, session = _ask_many(config, 120, again)
    cache_reads = [q for q in queries.captured_queries if "llm_cachedresponse" in q["sql"]]

    assert fake_llm.requests == []
    assert session.cache.queries == 1 and session.cache.keys == 120
    assert len(cache_reads) == 1
    assert {row.status for row in again.calls} == {"cache_hit"}


def test_bulk_cache_read_returns_only_stored_keys_over_many_queries():
    stored = [f"{i:064x}" for i in range(0, 2000, 2)]
    CachedResponse.objects.bulk_create(
        CachedResponse(key=k, provider="openai", model="m", response_text=k[-4:]) for k in stored
    )
    asked = [f"{i:064x}" for i in range(2000)]  # more keys than one query takes

    found = selectors.cached_responses_get(keys=asked)

    assert set(found) == set(stored)
    assert found[stored[7]].text == stored[7][-4:]


def test_429_waits_for_retry_after_on_the_loop(fake_llm):
    fake_llm.script(error(429, retry_after=0.4), reply("fine"))
    config = _config(fake_llm)

    async def main():
        async with aio.session():
            started = time.monotonic()
            result = await acomplete_text(
                config=config, messages=[{"role": "user", "content": "hi"}], retry=FAST_RETRY
            )
            return result, time.monotonic() - started

    result, waited = async_to_sync(main)()

    assert result.text == "fine"
    assert waited >= 0.4
    rows = list(LLMCall.objects.order_by("transport_try").values_list("status", "http_status"))
    assert rows == [("http_error", 429), ("ok", None)]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_timed_out_try_is_retried_on_the_loop(fake_llm, provider):
    fake_llm.script(sleep(2.0, then="late"), reply("in time"))
    config = _config(fake_llm, provider).model_copy(update={"timeout_s": 0.5})

    async def main():
        async with aio.session():
            return await acomplete_text(
                config=config, messages=[{"role": "user", "content": "hi"}], retry=FAST_RETRY
            )

    started = time.monotonic()
    result = async_to_sync(main)()

    assert result.text == "in time"
    assert time.monotonic() - started < 1.9  # the slow try was given up at the timeout
    statuses = list(LLMCall.objects.order_by("transport_try").values_list("status", flat=True))
    assert statuses == ["timeout", "ok"]


def test_persistent_5xx_gives_up_after_the_policys_tries_and_logs_each(fake_llm):
    fake_llm.script(*[error(503)] * FAST_RETRY.max_tries)
    config = _config(fake_llm)

    async def main():
        async with aio.session():
            await acomplete_text(
                config=config, messages=[{"role": "user", "content": "hi"}], retry=FAST_RETRY
            )

    with pytest.raises(ProviderError) as failed:
        async_to_sync(main)()

    assert failed.value.tries == FAST_RETRY.max_tries and failed.value.retryable
    assert LLMCall.objects.filter(status="http_error", http_status=503).count() == 4


def test_the_loops_calls_respect_the_concurrency_limit(fake_llm, settings):
    settings.LLM_RATE_LIMITS = {"openai": {"concurrency": 4}}
    ratelimit._LIMITERS.clear()
    fake_llm.latency_s = 0.1
    fake_llm.default_content = '{"support": "yes"}'

    _ask_many(_config(fake_llm), 30, CallBuffer())

    assert len(fake_llm.requests) == 30
    assert fake_llm.max_in_flight == 4
    ratelimit._LIMITERS.clear()


def test_threads_and_event_loops_share_one_in_process_limit():
    limiter = LocalLimiter(RateLimits(concurrency=3))
    holding = 0
    peak = 0
    lock = threading.Lock()

    def enter():
        nonlocal holding, peak
        with lock:
            holding += 1
            peak = max(peak, holding)

    def leave():
        nonlocal holding
        with lock:
            holding -= 1

    def thread_user():
        for _ in range(5):
            with limiter.slot(estimated_tokens=1, lease_s=5):
                enter()
                time.sleep(0.02)
                leave()

    async def loop_user():
        async def one():
            async with limiter.aslot(estimated_tokens=1, lease_s=5):
                enter()
                await asyncio.sleep(0.02)
                leave()

        await asyncio.gather(*(one() for _ in range(20)))

    threads = [threading.Thread(target=thread_user) for _ in range(3)]
    for t in threads:
        t.start()
    asyncio.run(loop_user())
    for t in threads:
        t.join()

    assert peak == 3
    assert limiter._slots is not None and limiter._slots.free == 3


def test_a_cancelled_wait_for_a_slot_gives_no_slot_away():
    limiter = LocalLimiter(RateLimits(concurrency=1))

    async def main():
        async with limiter.aslot(estimated_tokens=1, lease_s=5):
            waiting = asyncio.create_task(limiter.aslot(estimated_tokens=1, lease_s=5).__aenter__())
            await asyncio.sleep(0.01)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        async with limiter.aslot(estimated_tokens=1, lease_s=5):
            pass  # the slot came back

    asyncio.run(asyncio.wait_for(main(), 2))
    assert limiter._slots is not None and limiter._slots.free == 1


def test_the_async_requests_per_minute_bucket_spaces_calls():
    limiter = LocalLimiter(RateLimits(requests_per_minute=120))  # 2 a second after the burst
    for _ in range(119):
        with limiter.slot(estimated_tokens=1, lease_s=5):
            pass

    async def main():
        started = time.monotonic()
        for _ in range(3):
            async with limiter.aslot(estimated_tokens=1, lease_s=5):
                pass
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.9  # one token left, then 0.5 s and 0.5 s more


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def test_the_async_redis_limiter_shares_the_sync_ones_slots():
    if not _redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    import redis.asyncio

    limits = RateLimits(concurrency=2)
    scope = "test-async-concurrency"
    sync_limiter = ratelimit.RedisLimiter(limits, scope=scope, url=REDIS_TEST_URL)
    sync_limiter.client.delete(sync_limiter.key("concurrency"))
    peak = 0
    holding = 0

    async def main():
        nonlocal peak, holding
        client = redis.asyncio.Redis.from_url(REDIS_TEST_URL)
        limiter = AsyncRedisLimiter(limits, scope=scope, client=client)

        async def one():
            nonlocal peak, holding
            async with limiter.aslot(estimated_tokens=1, lease_s=5):
                holding += 1
                peak = max(peak, holding)
                await asyncio.sleep(0.05)
                holding -= 1

        # A thread's lease holds one of the two slots throughout.
        with sync_limiter.slot(estimated_tokens=1, lease_s=5):
            await asyncio.gather(*(one() for _ in range(6)))
        await client.aclose()

    asyncio.run(asyncio.wait_for(main(), 10))
    assert peak == 1
    assert sync_limiter.client.zcard(sync_limiter.key("concurrency")) == 0


def test_results_on_loop_raises_a_workers_error_and_keeps_what_was_in_flight():
    async def work(n: int) -> int:
        await asyncio.sleep(0.05 if n else 0.01)
        if n == 0:
            raise ValueError("persona 0 broke")
        return n

    dropped: list[int] = []
    results = loops.results_on_loop(work, list(range(10)), concurrency=4, dropped=dropped)
    with pytest.raises(ValueError, match="persona 0 broke"):
        list(results)
    # The three in flight with it finished and were kept; no more were started.
    assert sorted(dropped) == [1, 2, 3]


def test_results_on_loop_keeps_more_items_under_way_than_requests_on_the_wire(fake_llm):
    fake_llm.latency_s = 0.1
    fake_llm.default_content = "fine"
    config = _config(fake_llm)
    under_way = {"now": 0, "most": 0}
    buffer = CallBuffer()

    async def work(n: int) -> str:
        under_way["now"] += 1
        under_way["most"] = max(under_way["most"], under_way["now"])
        try:
            # A persona's own work between its calls (here a pause) holds no request slot.
            await asyncio.sleep(0.05)
            reply = await acomplete_text(
                config=config,
                messages=[{"role": "user", "content": f"question {n}"}],
                use_cache=False,
                buffer=buffer,
            )
            return reply.text
        finally:
            under_way["now"] -= 1

    got = dict(loops.results_on_loop(work, list(range(24)), concurrency=6, requests=3))

    assert sorted(got) == list(range(24)) and set(got.values()) == {"fine"}
    assert fake_llm.max_in_flight == 3  # the session's bound on the wire
    # Six while items were left to hand out (three more doing their own work), then the last
    # three at once beside the five or six still under way (`tests/llm/test_slots.py`).
    assert 6 <= under_way["most"] <= 6 + 3


def test_results_on_loop_runs_database_work_on_the_calling_thread():
    caller = threading.get_ident()

    async def work(n: int) -> tuple[int, int]:
        return n, await aio.run_db(threading.get_ident)

    got = dict(loops.results_on_loop(work, [1, 2, 3], concurrency=3))

    assert {thread for _, thread in got.values()} == {caller}


def test_the_loops_are_uvloops_where_it_is_installed():
    uvloop = pytest.importorskip("uvloop")

    async def loop_type(n: int) -> type:
        return type(asyncio.get_running_loop())

    got = dict(loops.results_on_loop(loop_type, [1, 2], concurrency=2))
    with loops.CallsOnLoop(concurrency=1) as calls:
        calls.submit("one", loop_type, 1)
        _, from_calls, error = calls.result()

    assert set(got.values()) == {uvloop.Loop}
    assert error is None and from_calls is uvloop.Loop


def test_calls_on_loop_answer_as_they_finish_with_database_work_on_the_calling_thread():
    caller = threading.get_ident()
    running = {"now": 0, "most": 0}

    async def work(n: int) -> tuple[int, int]:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        await asyncio.sleep(0.05 * (5 - n % 5))
        running["now"] -= 1
        if n == 3:
            raise ValueError("call 3 broke")
        return n * 10, await aio.run_db(threading.get_ident)

    with loops.CallsOnLoop(concurrency=4) as calls:
        for n in range(8):
            calls.submit(n, work, n)
        got = [calls.result() for _ in range(8)]

    values = {key: value for key, value, error in got if error is None}
    errors = {key: error for key, _, error in got if error is not None}
    assert sorted(values) == [0, 1, 2, 4, 5, 6, 7] and list(errors) == [3]
    assert str(errors[3]) == "call 3 broke"
    assert {value[0] for value in values.values()} == {0, 10, 20, 40, 50, 60, 70}
    assert {value[1] for value in values.values()} == {caller}
    assert running["most"] == 4  # at most `concurrency` at once


def test_leaving_calls_on_loop_lets_the_calls_in_flight_finish():
    finished: list[int] = []

    async def work(n: int) -> int:
        await asyncio.sleep(0.05)
        finished.append(n)
        return n

    with loops.CallsOnLoop(concurrency=8) as calls:
        for n in range(3):
            calls.submit(n, work, n)

    assert sorted(finished) == [0, 1, 2]


def test_asking_calls_on_loop_for_a_result_with_none_in_flight_is_an_error_not_a_hang():
    async def work() -> None:
        raise AssertionError("never called")

    with loops.CallsOnLoop(concurrency=2) as calls:
        calls._loop.call_soon_threadsafe(calls._closing.set)  # the loop ends with nothing left
        with pytest.raises(RuntimeError, match="event loop has stopped"):
            calls.result()


def test_the_sync_gateway_still_answers_threads(fake_llm):
    result = complete_text(config=_config(fake_llm), messages=[{"role": "user", "content": "x"}])
    assert result.text == '{"ok": true}'
