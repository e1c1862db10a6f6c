"""Reads for studies and runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, NamedTuple

from django.db import connection
from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from config.ownership import sees_everything, visible_to
from studies.models import (
    HeldRun,
    Item,
    ItemOption,
    PolicyAnalysis,
    Run,
    RunPersona,
    Study,
)
from studies.progress import ProgressMessage, run_message


def study_list(*, user) -> QuerySet[Study]:
    """The studies `user` may see (their own; staff all), newest first, items and conditions
    prefetched."""
    return (
        visible_to(Study.objects.all(), user)
        .prefetch_related(
            Prefetch(
                "items",
                queryset=Item.objects.prefetch_related(
                    Prefetch("options", queryset=ItemOption.objects.order_by("order"))
                ).order_by("order"),
            ),
            "conditions",
        )
        .order_by("-created_at")
    )


def run_list(*, user) -> QuerySet[Run]:
    """The runs `user` may see (their own; staff all), newest first."""
    return visible_to(Run.objects.select_related("study", "population"), user).order_by(
        "-created_at"
    )


def run_results_version_sql() -> str:
    """SQL naming the version of a run's stored results, for a query on the runs table.

    On PostgreSQL, the row's version: `xmin` (the transaction that wrote it) and `ctid` (where;
    every UPDATE writes a new tuple, so two updates in one transaction differ too). Any change to
    the results changes it, and reading it costs nothing, where an MD5 of the results made the
    database cast and hash the whole JSON on every request (~1 ms of its CPU for a 30 KB result,
    on the cores the web processes share). SQLite has neither: the MD5 there."""
    table = connection.ops.quote_name(Run._meta.db_table)
    if connection.vendor == "postgresql":
        return f"{table}.xmin::text || '/' || {table}.ctid::text"
    return f"MD5(CAST({table}.{connection.ops.quote_name('results')} AS text))"


class RunResultsState(NamedTuple):
    status: str
    version: str
    ready: bool


def run_results_state(*, user, run_id: int) -> RunResultsState | None:
    """A run's status, the version of its stored results and whether it has any, if `user` may
    see the run (as `run_list`: their own, staff all); None otherwise.

    The hot path of the results endpoint, so one SQL statement written out rather than a
    queryset: compiling the equivalent ORM query (ownership filter, annotations) cost about 1 ms
    of the web process's CPU a request, the statement 0.2 ms (README, Serving). Whom it lets see
    what is `config.ownership.visible_to` on `created_by`, and a test holds the two together."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    quote = connection.ops.quote_name
    table = quote(Run._meta.db_table)
    sql = (
        f"SELECT {quote('status')}, {run_results_version_sql()}, "
        f"{table}.{quote('results')} IS NOT NULL FROM {table} WHERE {table}.{quote('id')} = %s"
    )
    params: list[int] = [run_id]
    if not sees_everything(user):
        sql += f" AND {table}.{quote(Run._meta.get_field('created_by').column)} = %s"
        params.append(user.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    status, version, ready = row
    return RunResultsState(status=status, version=version, ready=bool(ready))


def held_run_list(*, user) -> QuerySet[HeldRun]:
    """The held runs `user` may see (their own; staff all), newest first, with their study and
    started run."""
    return visible_to(HeldRun.objects.select_related("study", "run"), user).order_by(
        "-created_at", "-id"
    )


def policy_analysis_list(*, user) -> QuerySet[PolicyAnalysis]:
    """The policy analyses `user` may see (their own; all for staff), with run and study."""
    return visible_to(
        PolicyAnalysis.objects.select_related("run", "study").order_by("-created_at"), user
    )


def run_persona_list(*, run_id: int, status: str | None = None) -> QuerySet[RunPersona]:
    """A run's per-persona records (artefacts, usage, failures), in population order."""
    records = RunPersona.objects.filter(run_id=run_id).select_related("persona")
    if status:
        records = records.filter(status=status)
    return records.order_by("persona__index")


def run_list_stale(*, idle_for: timedelta) -> QuerySet[Run]:
    """Queued or running runs with no sign of life for `idle_for`: no worker heartbeat in that
    time (studies.tasks beats while a chunk runs), nor an answer stored, nor (before either) a
    start or creation, so no live worker holds them."""
    return (
        Run.objects.filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING])
        .annotate(
            last_progress=Greatest(
                Coalesce("heartbeat_at", "created_at"),
                Coalesce(Max("answers__created_at"), "started_at", "created_at"),
            )
        )
        .filter(last_progress__lt=timezone.now() - idle_for)
        .order_by("id")
    )


def run_snapshot(*, run_id: int) -> ProgressMessage | None:
    """The stored state of a run as a progress message, for pages and sockets that (re)connect."""
    run = (
        Run.objects.filter(id=run_id)
        .only(
            "id",
            "status",
            "personas_done",
            "personas_total",
            "error_message",
            "cost_estimate",
            "cost_spent",
        )
        .first()
    )
    if run is None:
        return None
    kind: Literal["progress", "completion", "error"]
    if run.status == Run.Status.FAILED:
        kind = "error"
    elif run.is_finished:
        kind = "completion"
    else:
        kind = "progress"
    return run_message(
        kind=kind,
        run_id=run.id,
        status=run.status,
        done=run.personas_done,
        total=run.personas_total,
        message=run.error_message,
        cost=None if run.cost_estimate is None else format(run.cost_spent, "f"),
    )


# --- the pages' lists: searchable, with the counts their rows show ------------------------------


def study_list_summary(*, user, search: str = "") -> QuerySet[Study]:
    """The studies `user` may see with their item and run counts, by title or description."""
    studies = (
        study_list(user=user)
        .prefetch_related(None)
        .annotate(
            item_count=Count("items", distinct=True),
            run_count=Count("runs", distinct=True),
        )
    )
    if search:
        studies = studies.filter(Q(title__icontains=search) | Q(description__icontains=search))
    return studies


def run_list_search(*, user, search: str = "", status: str = "") -> QuerySet[Run]:
    """The runs `user` may see, by status and by study title, population name, backend or id."""
    runs = run_list(user=user)
    if status:
        runs = runs.filter(status=status)
    if search:
        match = (
            Q(study__title__icontains=search)
            | Q(population__name__icontains=search)
            | Q(backend__icontains=search)
        )
        if search.strip().lstrip("#").isdigit():
            match |= Q(id=int(search.strip().lstrip("#")))
        runs = runs.filter(match)
    return runs
