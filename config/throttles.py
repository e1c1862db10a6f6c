"""Limits on how fast and how much one client may ask for.

- ``UserRateThrottle`` (DRF): every authenticated request, per user (``API_RATE_USER``).
- :class:`WorkRateThrottle`: requests that start work (create a population, a study, a run, a
  validation) on views marked ``starts_work = True``, per user (``API_RATE_WORK``).
- :func:`daily_quota_check`: personas generated and runs started per user in the last 24 hours
  (``QUOTA_PERSONAS_PER_DAY``, ``QUOTA_RUNS_PER_DAY``); staff are exempt.

Rates live in the Django cache: Redis in production, so every web process counts together. There
a rate is checked and counted by one Lua script on a sorted set of the user's request times (one
round trip, atomic, timed by the Redis server's clock) rather than DRF's read and rewrite of a
pickled list (two round trips, and two processes could each count from the same list and lose a
request); the window and the refusals are DRF's: a request is allowed while fewer than the rate's
number were allowed in the last period, and a refused request is not counted. All
refusals are 429 in the API's JSON error shape with a message saying when to try again. While the
cache is unreachable (Redis restarting or down) the rate throttles let requests through and log a
warning: the API keeps serving what needs only the database (the daily quotas still hold, they
count rows), rather than answering 500 to everyone.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db.models import Sum
from django.utils import timezone
from rest_framework import throttling
from rest_framework.permissions import SAFE_METHODS

from config.errors import DomainError
from config.ownership import sees_everything

logger = logging.getLogger(__name__)


# KEYS[1]: the user's sorted set of request times; ARGV: period (s), allowed requests, a member
# unique to this request. Returns {allowed (1/0), requests in the window, now, the oldest request's
# time when refused}. Times are strings: Redis turns a Lua number in a reply into an integer.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local duration = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - duration)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, count, string.format('%.6f', now), oldest[2]}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(duration * 1000))
return {1, count + 1, string.format('%.6f', now), ''}
"""
_script: Any = None
_members = itertools.count()
_member_prefix = secrets.token_hex(6)


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user rate (in one Redis round trip where the cache is Redis), open while the
    cache is unreachable."""

    _refused: tuple[int, float] | None = None

    def allow_request(self, request, view) -> bool:
        try:
            backend = caches["default"]
            if isinstance(backend, RedisCache):
                return self._allow_by_redis(backend, request, view)
            return super().allow_request(request, view)
        except (redis.RedisError, OSError) as exc:
            logger.warning("Rate %r not checked, the cache is unreachable: %s", self.scope, exc)
            return True

    def _allow_by_redis(self, backend: RedisCache, request, view) -> bool:
        global _script
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        # A key of its own: DRF's pickled list under the plain key is another Redis type.
        key = backend.make_and_validate_key(f"{self.key}:log")
        client = backend._cache.get_client(key, write=True)
        if _script is None:
            _script = client.register_script(_SLIDING_WINDOW)
        member = f"{_member_prefix}:{os.getpid()}:{next(_members)}"
        allowed, count, now, oldest = _script(
            keys=[key], args=[self.duration, self.num_requests, member], client=client
        )
        self.now = float(now)
        if allowed:
            return True
        self._refused = (int(count), float(oldest))
        return self.throttle_failure()

    def wait(self) -> float | None:
        if self._refused is None:
            return super().wait()
        count, oldest = self._refused
        available_requests = self.num_requests - count + 1
        if available_requests <= 0:
            return None
        return (self.duration - (self.now - oldest)) / available_requests


class WorkRateThrottle(UserRateThrottle):
    scope = "work"

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS or not getattr(view, "starts_work", False):
            return True
        return super().allow_request(request, view)


class QuotaExceeded(DomainError):
    status_code = HTTPStatus.TOO_MANY_REQUESTS.value
    code = "quota_exceeded"


def daily_quota_check(*, user, personas: int = 0, runs: int = 0) -> None:
    """Refuse work that would take `user` past the daily quotas (a rolling 24 hours)."""
    if sees_everything(user) or user is None or not user.is_authenticated:
        return
    from personas.models import Population
    from studies.models import Run

    since = timezone.now() - timedelta(days=1)
    if personas:
        limit = settings.QUOTA_PERSONAS_PER_DAY
        used = (
            Population.objects.filter(created_by=user, created_at__gte=since).aggregate(
                n=Sum("size")
            )["n"]
            or 0
        )
        if used + personas > limit:
            raise QuotaExceeded(
                f"This would generate {personas:,} personas; you have generated {used:,} in the "
                f"last 24 hours and the quota is {limit:,} a day. Use a smaller population, "
                "reuse an existing one, or ask the operator to raise QUOTA_PERSONAS_PER_DAY.",
                fields={"size": [f"daily quota of {limit:,} personas"]},
            )
    if runs:
        limit = settings.QUOTA_RUNS_PER_DAY
        used = Run.objects.filter(created_by=user, created_at__gte=since).count()
        if used + runs > limit:
            raise QuotaExceeded(
                f"You have started {used:,} runs in the last 24 hours and the quota is {limit:,} "
                "a day. Try again later or ask the operator to raise QUOTA_RUNS_PER_DAY."
            )
