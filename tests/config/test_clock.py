"""config.clock.now: Django's timezone.now without a settings read each call."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.test import override_settings
from django.utils import timezone

from config.clock import now


def test_now_is_djangos_now_and_follows_a_change_of_use_tz():
    stamp = now()
    assert stamp.tzinfo is UTC and abs(stamp - timezone.now()) < timedelta(seconds=1)
    with override_settings(USE_TZ=False):
        naive = now()
        assert naive.tzinfo is None and timezone.is_naive(timezone.now())
    assert now().tzinfo is UTC
