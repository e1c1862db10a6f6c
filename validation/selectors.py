"""Reads for validation runs."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from config.ownership import sees_everything
from validation.accuracy import accuracy_report
from validation.models import ValidationRun


def _visible(user) -> QuerySet[ValidationRun]:
    """A user's own validation runs plus the platform's (no owner: the scheduled runs against the
    validation targets, which are the platform's published accuracy); staff see all."""
    if sees_everything(user):
        return ValidationRun.objects.all()
    if user is None or not getattr(user, "is_authenticated", False):
        return ValidationRun.objects.filter(created_by__isnull=True)
    return ValidationRun.objects.filter(Q(created_by=user) | Q(created_by__isnull=True))


def validation_run_list(*, user) -> QuerySet[ValidationRun]:
    return _visible(user).select_related("question__poll").order_by("-created_at")


def validation_runs_in_window(*, since, user=None) -> QuerySet[ValidationRun]:
    """Finished runs created at or after `since`, oldest first, with their question and poll:
    those `user` may see, or the platform's own when no user is given."""
    return (
        _visible(user)
        .filter(
            created_at__gte=since,
            status__in=[ValidationRun.Status.COMPLETED, ValidationRun.Status.FAILED],
        )
        .select_related("question__poll")
        .order_by("created_at", "id")
    )


def validation_accuracy_report(*, days: int, user=None, now: dt.datetime | None = None) -> dict:
    """The accuracy report of the runs created in the last `days` days (validation.accuracy):
    the platform's runs and `user`'s own."""
    now = now or timezone.now()
    runs = list(validation_runs_in_window(since=now - dt.timedelta(days=days), user=user))
    return accuracy_report(runs, days=days, now=now)
