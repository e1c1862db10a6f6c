from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.api import ConflictError
from studies.models import Run
from studies.services import run_resume


class Command(BaseCommand):
    help = (
        "Resume runs left queued or running by a stopped worker or server; finished personas "
        "are skipped. Without --run, resumes every unfinished run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--run", type=int, action="append", dest="runs", help="run id (repeatable)"
        )
        parser.add_argument(
            "--executor",
            choices=["celery", "thread", "inline"],
            default="inline",
            help="where to execute (default inline: this command waits until the runs finish)",
        )

    def handle(self, *args, runs: list[int] | None, executor: str, **options):
        queryset = Run.objects.all() if runs else Run.objects.exclude(status__in=Run.FINISHED)
        if runs:
            queryset = queryset.filter(id__in=runs)
            missing = sorted(set(runs) - set(queryset.values_list("id", flat=True)))
            if missing:
                raise CommandError(f"No run with id {', '.join(map(str, missing))}.")
        for run in queryset.order_by("id"):
            try:
                with transaction.atomic():
                    run_resume(run=run, executor=executor)
            except ConflictError as exc:
                raise CommandError(exc.message) from exc
            run.refresh_from_db()
            self.stdout.write(
                f"Run {run.id}: {run.status}, {run.personas_done}/{run.personas_total} personas"
            )
