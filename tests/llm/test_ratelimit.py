"""Provider limits hold under concurrent workers, in-process and through Redis (database 13)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.db import connection

from llm import ratelimit
from llm.gateway import LLMConfig, complete_text
from llm.models import LLMCall
from llm.ratelimit import LocalLimiter, RateLimits, RedisLimiter, limiter_for
from tests.llm.conftest import FAST_RETRY
from tests.redis_db import redis_test_url

REDIS_TEST_URL = redis_test_url("ratelimit")


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["local", "redis"])
def backend(request, settings):
    ratelimit._LIMITERS.clear()
    if request.param == "redis":
        if not _redis_available():
            pytest.skip("Redis is not running on 127.0.0.1:6379")
        client = redis.Redis.from_url(REDIS_TEST_URL)
        client.flushdb()
        settings.LLM_RATELIMIT_REDIS_URL = REDIS_TEST_URL
        yield "redis"
        client.flushdb()
    else:
        yield "local"
    ratelimit._LIMITERS.clear()


def _run_concurrently(config: LLMConfig, n: int, workers: int) -> None:
    def one(i: int) -> None:
        try:
            complete_text(
                config=config,
                messages=[{"role": "user", "content": f"question {i}"}],
                retry=FAST_RETRY,
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(n)))


@pytest.mark.django_db(transaction=True)
def test_concurrency_limit_is_respected_under_threads(fake_llm, settings, backend):
    settings.LLM_RATE_LIMITS = {"openai": {"concurrency": 3}}
    fake_llm.latency_s = 0.1
    config = LLMConfig(provider="openai", model="m", base_url=fake_llm.openai_base_url)

    _run_concurrently(config, n=15, workers=10)

    assert len(fake_llm.requests) == 15
    assert fake_llm.max_in_flight == 3
    limiter = limiter_for(config)
    assert isinstance(limiter, RedisLimiter if backend == "redis" else LocalLimiter)
    assert LLMCall.objects.filter(status="ok").count() == 15


@pytest.mark.django_db(transaction=True)
def test_requests_per_minute_spaces_calls_after_the_burst(fake_llm, settings, backend):
    # 120/min = 2/s: the bucket's minute of allowance is spent first, so start it almost empty.
    settings.LLM_RATE_LIMITS = {"openai": {"requests_per_minute": 120}}
    config = LLMConfig(provider="openai", model="m", base_url=fake_llm.openai_base_url)
    limiter = limiter_for(config)
    for _ in range(119):
        with limiter.slot(estimated_tokens=1, lease_s=5):
            pass

    started = time.monotonic()
    _run_concurrently(config, n=3, workers=3)

    # One token was left; the next two wait 0.5 s and 1 s for the refill.
    assert time.monotonic() - started >= 0.9
    assert len(fake_llm.requests) == 3


def test_tokens_per_minute_reserves_then_settles(backend, settings):
    limits = RateLimits(tokens_per_minute=6000)  # 100 tokens per second
    if backend == "redis":
        limiter = RedisLimiter(limits, scope="test-tpm", url=REDIS_TEST_URL)
    else:
        limiter = LocalLimiter(limits)

    with limiter.slot(estimated_tokens=6000, lease_s=5) as lease:
        lease.settle(actual_tokens=5900)  # 100 tokens came back
    started = time.monotonic()
    with limiter.slot(estimated_tokens=150, lease_s=5):
        pass

    # 100 tokens available, 50 owed: half a second at 100 tokens/s.
    assert 0.4 <= time.monotonic() - started < 1.5


def test_a_killed_workers_slot_expires():
    if not _redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    redis.Redis.from_url(REDIS_TEST_URL).delete("llm:ratelimit:test-expiry:concurrency")
    limiter = RedisLimiter(RateLimits(concurrency=1), scope="test-expiry", url=REDIS_TEST_URL)
    # A worker that took the only slot and died without releasing it:
    limiter.client.zadd(limiter.key("concurrency"), {"dead-worker": time.time() + 0.3})

    started = time.monotonic()
    with limiter.slot(estimated_tokens=1, lease_s=5):
        pass

    assert 0.2 <= time.monotonic() - started < 2


def test_limits_are_per_provider_and_unset_means_unlimited(settings):
    # As config.settings reads LLM_ANTHROPIC_CONCURRENCY=4 and LLM_ANTHROPIC_TPM=40000.
    settings.LLM_RATE_LIMITS = {"anthropic": {"concurrency": 4, "tokens_per_minute": 40000}}

    assert ratelimit.limits_for("anthropic") == RateLimits(
        concurrency=4, requests_per_minute=None, tokens_per_minute=40000
    )
    assert ratelimit.limits_for("openai").unlimited
