"""Reads for studies and runs."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from studies.models import Item, ItemOption, Run, Study
from studies.progress import ProgressMessage, run_message


def study_list() -> QuerySet[Study]:
    return Study.objects.prefetch_related(
        Prefetch(
            "items",
            queryset=Item.objects.prefetch_related(
                Prefetch("options", queryset=ItemOption.objects.order_by("order"))
            ).order_by("order"),
        )
    ).order_by("-created_at")


def run_list() -> QuerySet[Run]:
    return Run.objects.select_related("study", "population").order_by("-created_at")


def run_snapshot(*, run_id: int) -> ProgressMessage | None:
    """The stored state of a run as a progress message, for pages and sockets that (re)connect."""
    run = (
        Run.objects.filter(id=run_id)
        .only("id", "status", "personas_done", "personas_total", "error_message")
        .first()
    )
    if run is None:
        return None
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
    )
