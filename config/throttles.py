"""Limits on how fast and how much one client may ask for.

- :class:`UserRateThrottle`: every authenticated request (``API_RATE_USER``).
- :class:`WorkRateThrottle`: requests that start work (create a population, a study, a run, a
  validation) on views marked ``starts_work = True`` (``API_RATE_WORK``).
- :func:`daily_quota_check`: personas generated and runs started per user in the last 24 hours
  (``QUOTA_PERSONAS_PER_DAY``, ``QUOTA_RUNS_PER_DAY``); staff are exempt.

Who is counted: a session or a token counts against its user. A request with an API key counts
against that key, at its scope's rate (``API_RATE_KEY_READ``, ``_RUN``, ``_ADMIN``, each
``API_RATE_USER`` by default; work starts at ``API_RATE_WORK`` per key), and against a ceiling
shared by all of its user's keys (``API_RATE_KEYS``, ``API_RATE_WORK_KEYS``; five times the
per-user rates by default), so making more keys does not multiply a user's rate without bound.
A leaked or busy key thus spends its own budget and at most its rate's share of the ceiling (a
fifth, by default), never the budget of its user's other keys or of their sessions and tokens.
The key's bucket and the ceiling are checked and counted together: a request refused by either
counts in neither.

Rates live in the Django cache: Redis in production, so every web process counts together. There
a rate is checked and counted by one Lua script on sorted sets of request times (one
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
from typing import Any, NamedTuple

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db.models import Sum
from django.utils import timezone
from rest_framework import throttling
from rest_framework.permissions import SAFE_METHODS

from accounts.models import ApiKey
from config.errors import DomainError
from config.ownership import sees_everything

logger = logging.getLogger(__name__)


# KEYS: the sorted sets of request times this request is counted in; ARGV[1]: a member unique to
# this request, then each set's period (s) and allowed requests. The request is allowed only if
# every set has room, and then counted in all of them. Returns {allowed (1/0), the refusing set's
# index (from 1) and its requests in the window, now, the oldest request's time when refused}.
# Times are strings: Redis turns a Lua number in a reply into an integer.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stamp = string.format('%.6f', now)
for i, key in ipairs(KEYS) do
  local duration = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
  local count = redis.call('ZCARD', key)
  if count >= tonumber(ARGV[2 * i + 1]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {0, i, count, stamp, oldest[2]}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 * i]) * 1000))
end
return {1, 0, 0, stamp, ''}
"""
_script: Any = None
_members = itertools.count()
_member_prefix = secrets.token_hex(6)


class Bucket(NamedTuple):
    """One count a request is checked against: its cache key, allowed requests, period (s)."""

    key: str
    num_requests: int
    duration: int


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user rate for sessions and tokens; per API key, at the key's scope's rate, under
    a ceiling over all of the user's keys, for a request with a key (in one Redis round trip where
    the cache is Redis); open while the cache is unreachable."""

    # The refusing bucket and, in its window, the requests counted and the oldest one's time.
    _refused: tuple[Bucket, int, float] | None = None

    def allow_request(self, request, view) -> bool:
        try:
            buckets = self.buckets(request, view)
            if not buckets:
                return True
            backend = caches["default"]
            if isinstance(backend, RedisCache):
                return self._allow_by_redis(backend, buckets)
            return self._allow_by_cache(buckets)
        except (redis.RedisError, OSError) as exc:
            logger.warning("Rate %r not checked, the cache is unreachable: %s", self.scope, exc)
            return True

    def buckets(self, request, view) -> list[Bucket]:
        """Where `request` is counted: the user's bucket (sessions, tokens; anonymous requests by
        address, as DRF), or the API key's own and its user's keys' ceiling."""
        key = getattr(request, "auth", None)
        if not isinstance(key, ApiKey):
            if self.rate is None:
                return []
            self.key = self.get_cache_key(request, view)
            if self.key is None:
                return []
            return [Bucket(self.key, self.num_requests, self.duration)]
        rates = self.THROTTLE_RATES
        named = [
            (f"key_{key.pk}", rates.get(f"{self.scope}:{key.scope}", self.rate)),
            (f"keys_{key.user_id}", rates.get(f"{self.scope}:keys")),
        ]
        buckets = []
        for ident, rate in named:
            if rate is not None:
                num_requests, duration = self.parse_rate(rate)
                cache_key = self.cache_format % {"scope": self.scope, "ident": ident}
                buckets.append(Bucket(cache_key, num_requests, duration))
        return buckets

    def _allow_by_redis(self, backend: RedisCache, buckets: list[Bucket]) -> bool:
        global _script
        # Keys of their own: DRF's pickled list under the plain key is another Redis type.
        keys = [backend.make_and_validate_key(f"{bucket.key}:log") for bucket in buckets]
        # Every write goes to the first server, so all the sets are on one.
        client = backend._cache.get_client(keys[0], write=True)
        if _script is None:
            _script = client.register_script(_SLIDING_WINDOW)
        args: list[Any] = [f"{_member_prefix}:{os.getpid()}:{next(_members)}"]
        for bucket in buckets:
            args += [bucket.duration, bucket.num_requests]
        allowed, index, count, now, oldest = _script(keys=keys, args=args, client=client)
        self.now = float(now)
        if allowed:
            return True
        self._refused = (buckets[int(index) - 1], int(count), float(oldest))
        return self.throttle_failure()

    def _allow_by_cache(self, buckets: list[Bucket]) -> bool:
        """DRF's list of request times per bucket, for the local-memory cache (one process)."""
        self.now = self.timer()
        histories = []
        for bucket in buckets:
            history = [t for t in self.cache.get(bucket.key, []) if t > self.now - bucket.duration]
            if len(history) >= bucket.num_requests:
                self._refused = (bucket, len(history), history[-1])
                return self.throttle_failure()
            histories.append(history)
        for bucket, history in zip(buckets, histories, strict=True):
            history.insert(0, self.now)
            self.cache.set(bucket.key, history, bucket.duration)
        return True

    def wait(self) -> float | None:
        if self._refused is None:
            return None
        bucket, count, oldest = self._refused
        available_requests = bucket.num_requests - count + 1
        if available_requests <= 0:
            return None
        return (bucket.duration - (self.now - oldest)) / available_requests


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
