"""Reads for validation runs."""

from __future__ import annotations

from django.db.models import QuerySet

from validation.models import ValidationRun


def validation_run_list() -> QuerySet[ValidationRun]:
    return ValidationRun.objects.select_related("question__poll").order_by("-created_at")
