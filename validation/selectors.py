"""Reads for validation runs."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from validation.accuracy import accuracy_report
from validation.models import ValidationRun


def validation_run_list() -> QuerySet[ValidationRun]:
    return ValidationRun.objects.select_related("question__poll").order_by("-created_at")


def validation_runs_in_window(*, since) -> QuerySet[ValidationRun]:
    """Finished runs created at or after `since`, oldest first, with their question and poll."""
    return (
        ValidationRun.objects.filter(
            created_at__gte=since,
            status__in=[ValidationRun.Status.COMPLETED, ValidationRun.Status.FAILED],
        )
        .select_related("question__poll")
        .order_by("created_at", "id")
    )


def validation_accuracy_report(*, days: int, now: dt.datetime | None = None) -> dict:
    """The accuracy report of the runs created in the last `days` days (validation.accuracy)."""
    now = now or timezone.now()
    runs = list(validation_runs_in_window(since=now - dt.timedelta(days=days)))
    return accuracy_report(runs, days=days, now=now)
