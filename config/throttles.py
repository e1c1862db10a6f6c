"""Limits on how fast and how much one client may ask for.

- ``UserRateThrottle`` (DRF): every authenticated request, per user (``API_RATE_USER``).
- :class:`WorkRateThrottle`: requests that start work (create a population, a study, a run, a
  validation) on views marked ``starts_work = True``, per user (``API_RATE_WORK``).
- :func:`daily_quota_check`: personas generated and runs started per user in the last 24 hours
  (``QUOTA_PERSONAS_PER_DAY``, ``QUOTA_RUNS_PER_DAY``); staff are exempt.

Rates live in the Django cache: Redis in production, so every web process counts together. All
refusals are 429 in the API's JSON error shape with a message saying when to try again. While the
cache is unreachable (Redis restarting or down) the rate throttles let requests through and log a
warning: the API keeps serving what needs only the database (the daily quotas still hold, they
count rows), rather than answering 500 to everyone.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from http import HTTPStatus

import redis
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from rest_framework import throttling
from rest_framework.permissions import SAFE_METHODS

from config.errors import DomainError
from config.ownership import sees_everything

logger = logging.getLogger(__name__)


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user rate, open while the cache is unreachable."""

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except (redis.RedisError, OSError) as exc:
            logger.warning("Rate %r not checked, the cache is unreachable: %s", self.scope, exc)
            return True


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
