from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.errors import ConflictError
from studies.models import Run
from studies.selectors import run_list_stale
from studies.services import run_resume


class Command(BaseCommand):
    help = (
        "Resume runs left queued or running by a stopped worker or server; finished personas "
        "are skipped. Name the runs (--run ID) or resume every queued or running run idle for a "
        "while (--stale-minutes N). A run's last progress is its newest stored answer or, "
        "before its first answer, its start (queued runs: their creation); the model keeps no "
        "heartbeat, so a worker still on a slow first answer looks idle: pick N well above the "
        "time one persona takes."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--run", type=int, action="append", dest="runs", help="run id (repeatable)"
        )
        which.add_argument(
            "--stale-minutes",
            type=int,
            dest="stale_minutes",
            help="resume queued or running runs with no progress for this many minutes",
        )
        parser.add_argument(
            "--executor",
            choices=["celery", "thread", "inline"],
            default="inline",
            help="where to execute (default inline: this command waits until the runs finish)",
        )

    def handle(
        self,
        *args,
        runs: list[int] | None,
        stale_minutes: int | None,
        executor: str,
        **options,
    ):
        if runs and stale_minutes is not None:
            raise CommandError("Give either --run or --stale-minutes, not both.")
        if runs:
            queryset = Run.objects.filter(id__in=runs).order_by("id")
            missing = sorted(set(runs) - set(queryset.values_list("id", flat=True)))
            if missing:
                raise CommandError(f"No run with id {', '.join(map(str, missing))}.")
        elif stale_minutes is not None:
            if stale_minutes < 1:
                raise CommandError(
                    f"--stale-minutes must be at least 1; got {stale_minutes}. Runs idle for less "
                    "may still be in a live worker's hands."
                )
            queryset = run_list_stale(idle_for=timedelta(minutes=stale_minutes))
            if not queryset.exists():
                self.stdout.write(
                    f"No queued or running run has been idle for {stale_minutes} minutes."
                )
                return
        else:
            raise CommandError(
                "Say which runs to resume: --run ID for a run you know was orphaned, or "
                "--stale-minutes N for every queued or running run with no progress for N "
                "minutes. Resuming all unfinished runs would hand runs that live workers are "
                "still processing to a second worker."
            )
        for run in queryset:
            try:
                with transaction.atomic():
                    run_resume(run=run, executor=executor)
            except ConflictError as exc:
                raise CommandError(exc.message) from exc
            run.refresh_from_db()
            self.stdout.write(
                f"Run {run.id}: {run.status}, {run.personas_done}/{run.personas_total} personas"
            )
