"""Reads for polls: lists with filters, crosstabs, events, and the curator's data checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, TextField
from django.db.models.functions import Cast

from polls.bundled import BundledDataset
from polls.models import Crosstab, MajorEvent, Option, Poll, Question, Response

SHARE_SUM_TOLERANCE = 0.01


def poll_list(
    *,
    topic: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    group: str | None = None,
) -> QuerySet[Poll]:
    """Polls filtered by topic tag, time frame and measured group dimension.

    Time frame: a poll matches when its field period overlaps [date_from, date_to]; a poll with
    no field dates matches on its year (the year lies within the years of the bounds); a poll
    with neither never matches a date filter.
    """
    polls = Poll.objects.annotate(question_count=Count("questions", distinct=True))
    if topic:
        # Tags are JSON lists; matching on their text form is case-insensitive on SQLite and
        # PostgreSQL alike and finds a topic inside a longer tag ("abortion" in "abortion law").
        question_tags = Question.objects.annotate(tags=Cast("topic_tags", TextField())).filter(
            poll=OuterRef("pk"), tags__icontains=topic
        )
        polls = polls.annotate(tags=Cast("topic_tags", TextField())).filter(
            Q(tags__icontains=topic) | Q(Exists(question_tags))
        )
    if date_from:
        polls = polls.filter(
            Q(field_end__gte=date_from)
            | Q(field_end__isnull=True, field_start__gte=date_from)
            | Q(field_end__isnull=True, field_start__isnull=True, year__gte=date_from.year)
        )
    if date_to:
        polls = polls.filter(
            Q(field_start__lte=date_to)
            | Q(field_start__isnull=True, field_end__lte=date_to)
            | Q(field_end__isnull=True, field_start__isnull=True, year__lte=date_to.year)
        )
    if group:
        polls = polls.filter(
            Exists(Crosstab.objects.filter(question__poll=OuterRef("pk"), dimension=group))
        )
    # The question ids come with the list (one more query per page), so a client needs no second
    # call per poll to find them.
    questions = Prefetch("questions", queryset=Question.objects.only("id", "poll_id"))
    return polls.prefetch_related(questions).order_by("slug")


def question_answerable(queryset: QuerySet[Question] | None = None) -> QuerySet[Question]:
    """The questions the offline backends can answer: those with respondent answers to draw from.
    A topline-only question (published shares, no respondents) has none, so the poll model and
    the poll-cell backend refuse an item grounded in it; the study form offers only these."""
    queryset = Question.objects.all() if queryset is None else queryset
    return queryset.filter(Exists(Response.objects.filter(question=OuterRef("pk"))))


def bundled_datasets_missing(datasets: Iterable[BundledDataset]) -> list[BundledDataset]:
    """The bundled datasets none of whose polls is in the database (a dataset is loaded when a
    poll with its mapping's slug, or slug prefix, exists)."""
    return [d for d in datasets if not Poll.objects.filter(slug__startswith=d.slug_prefix).exists()]


def poll_with_questions() -> QuerySet[Poll]:
    return Poll.objects.prefetch_related(
        Prefetch(
            "questions",
            queryset=Question.objects.prefetch_related(
                Prefetch("options", queryset=Option.objects.order_by("order"))
            ).order_by("code"),
        )
    )


def question_crosstabs(*, question: Question, dimension: str | None = None) -> QuerySet[Crosstab]:
    rows = Crosstab.objects.filter(question=question).select_related("option")
    if dimension:
        rows = rows.filter(dimension=dimension)
    return rows.order_by("dimension", "category", "option__order")


def event_list(*, start: dt.date | None = None, end: dt.date | None = None) -> QuerySet[MajorEvent]:
    events = MajorEvent.objects.all()
    if start:
        events = events.filter(date__gte=start)
    if end:
        events = events.filter(date__lte=end)
    return events.order_by("date", "title")


def poll_data_problems(poll: Poll) -> list[str]:
    """What a curator should fix: shares that do not sum to 1 per group, empty groups, dates."""
    problems = []
    if poll.field_start and poll.field_end and poll.field_start > poll.field_end:
        problems.append(f"field dates are reversed: {poll.field_start} is after {poll.field_end}")
    questions = poll.questions.annotate(option_count=Count("options", distinct=True)).values_list(
        "code", "option_count"
    )
    for code, option_count in questions:
        if option_count == 0:
            problems.append(f"question {code} has no options")
    cells = Crosstab.objects.filter(question__poll=poll).values_list(
        "question__code", "dimension", "category", "share", "n"
    )
    sums: dict[tuple[str, str, str], float] = {}
    empty: set[tuple[str, str, str]] = set()
    for code, dimension, category, share, n in cells:
        key = (code, dimension, category)
        sums[key] = sums.get(key, 0.0) + share
        if n <= 0:
            empty.add(key)
    for (code, dimension, category), total in sorted(sums.items()):
        if abs(total - 1) > SHARE_SUM_TOLERANCE:
            problems.append(
                f"question {code}, {dimension}={category}: shares sum to {total:.3f}, not 1 "
                f"(tolerance {SHARE_SUM_TOLERANCE})"
            )
    for code, dimension, category in sorted(empty):
        problems.append(f"question {code}, {dimension}={category}: n is 0")
    return problems
