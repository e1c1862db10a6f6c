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


def _key_client(user, name: str, scope: str = "run"):
    from rest_framework.test import APIClient

    from accounts.services import api_key_create

    _, secret = api_key_create(user=user, name=name, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _codes(client, n: int) -> list[int]:
    return [client.get(AREAS, {"limit": 1}).status_code for _ in range(n)]


def test_each_api_key_has_a_rate_of_its_own_at_its_scopes_rate(api, user, redis_cache, rates):
    rates(**{"user": "2/min", "user:read": "1/min", "user:run": "2/min"})
    nightly, laptop = _key_client(user, "nightly"), _key_client(user, "laptop")
    dashboard = _key_client(user, "dashboard", scope="read")
    assert _codes(nightly, 3) == [200, 200, 429]
    assert _codes(laptop, 3) == [200, 200, 429]
    assert _codes(dashboard, 2) == [200, 429]
    assert _codes(api, 3) == [200, 200, 429]  # the user's token: a bucket of its own


def test_a_request_refused_by_the_keys_ceiling_is_counted_in_neither(user, redis_cache, rates):
    rates(**{"user:run": "2/s", "user:keys": "3/s"})
    first, second = _key_client(user, "a"), _key_client(user, "b")
    assert _codes(first, 2) == [200, 200]
    time.sleep(0.5)
    assert _codes(second, 2) == [200, 429]  # the ceiling's third request, then its refusal
    response = second.get(AREAS)
    assert response.json()["error"]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 1
    time.sleep(0.6)  # the first key's two have left the window; the refusals never entered
    # The second key holds one request: one more fits its own 2/s, and the ceiling has room.
    assert _codes(second, 2) == [200, 429]
    assert _codes(first, 1) == [200]


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


def test_concurrent_requests_of_several_keys_are_counted_exactly(user, redis_cache, rates):
    """Each key's bucket and the ceiling they share, checked and counted in one atomic step."""
    from accounts.services import api_key_create

    rates(**{"user:run": "10/min", "user:keys": "25/min"})
    keys = [api_key_create(user=user, name=f"job {i}")[0] for i in range(4)]

    def attempt(i: int) -> tuple[int, bool]:
        key = keys[i % 4]
        request = SimpleNamespace(user=user, auth=key, META={})
        return key.pk, UserRateThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(80)))
    allowed = [pk for pk, ok in outcomes if ok]
    assert len(allowed) == 25
    assert max(allowed.count(key.pk) for key in keys) <= 10
