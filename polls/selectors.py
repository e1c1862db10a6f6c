"""Reads for polls."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from polls.models import Option, Poll, Question


def poll_list() -> QuerySet[Poll]:
    return Poll.objects.order_by("slug")


def poll_with_questions() -> QuerySet[Poll]:
    return Poll.objects.prefetch_related(
        Prefetch(
            "questions",
            queryset=Question.objects.prefetch_related(
                Prefetch("options", queryset=Option.objects.order_by("order"))
            ).order_by("code"),
        )
    )
