"""The request rates where the cache is Redis (production): checked and counted in one atomic
round trip, with DRF's window and refusals."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import redis
from django.core.cache import cache

from config.throttles import UserRateThrottle
from tests.redis_db import redis_test_url

pytestmark = pytest.mark.django_db

REDIS_TEST_URL = redis_test_url("throttles")
AREAS = "/api/v1/areas/"


@pytest.fixture
def redis_cache(settings):
    """The shared cache on Redis, under a key prefix no other test uses (nothing is flushed)."""
    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_TEST_URL,
            "KEY_PREFIX": f"test-throttles-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def rates(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(**rates):
        monkeypatch.setattr(
            SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates}
        )

    return set_rates


def test_the_rate_allows_its_number_then_refuses_with_a_wait(api, redis_cache, rates):
    rates(user="3/min")
    assert [api.get(AREAS, {"limit": 1}).status_code for _ in range(5)] == [200] * 3 + [429] * 2
    response = api.get(AREAS)
    error = response.json()["error"]
    assert error["code"] == "throttled" and "seconds" in error["message"]
    # The oldest of the 3 requests leaves the minute's window first; one slot then opens.
    assert 0 < int(response["Retry-After"]) <= 60


def test_a_refused_request_is_not_counted(api, redis_cache, rates):
    rates(user="2/s")
    assert [api.get(AREAS, {"limit": 1}).status_code for _ in range(2)] == [200, 200]
    time.sleep(0.5)
    assert api.get(AREAS, {"limit": 1}).status_code == 429
    time.sleep(0.6)  # the two allowed requests have left the window; the refused one never entered
    assert [api.get(AREAS, {"limit": 1}).status_code for _ in range(2)] == [200, 200]


def test_each_user_has_a_rate_of_their_own(api, redis_cache, rates, django_user_model):
    from rest_framework.test import APIClient

    rates(user="2/min")
    assert [api.get(AREAS, {"limit": 1}).status_code for _ in range(3)] == [200, 200, 429]
    other = APIClient()
    other.force_authenticate(django_user_model.objects.create_user("other", password="x" * 20))
    assert other.get(AREAS, {"limit": 1}).status_code == 200


def test_a_count_left_by_the_previous_throttle_does_not_break_the_rate(
    api, user, redis_cache, rates
):
    # DRF's throttle kept a pickled list under the plain key; a server upgraded while it is
    # there still answers (the sorted set has a key of its own).
    rates(user="2/min")
    cache.set(f"throttle_user_{user.pk}", [time.time()] * 3, 60)
    assert [api.get(AREAS, {"limit": 1}).status_code for _ in range(3)] == [200, 200, 429]


def test_concurrent_requests_are_counted_exactly(user, redis_cache, rates):
    """Processes checking at once: DRF's read-then-write of a list lost requests this way."""
    rates(user="20/min")
    request = SimpleNamespace(user=user, META={})

    def attempt(_: int) -> bool:
        return UserRateThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(attempt, range(80)))
    assert sum(allowed) == 20
