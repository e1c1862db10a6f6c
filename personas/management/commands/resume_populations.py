"""Take up population builds left queued or building by a stopped worker or server."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from personas.models import Population
from personas.services import populations_resume_stale
from personas.tasks import population_build_dispatch

UNFINISHED = (Population.Status.QUEUED, Population.Status.BUILDING)


class Command(BaseCommand):
    help = (
        "Continue population builds left queued or building by a stopped worker or server (the "
        "embedded setup has no Celery beat, so nothing else does): a build continues after its "
        "last committed batch, with the personas an uninterrupted build would have. Name the "
        "populations (--population ID) or take up every build with no progress for a while "
        "(--stale-minutes N)."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--population",
            type=int,
            action="append",
            dest="populations",
            help="population id (repeatable)",
        )
        which.add_argument(
            "--stale-minutes",
            type=int,
            dest="stale_minutes",
            help="take up queued or building populations with no progress for this many minutes",
        )
        parser.add_argument(
            "--executor",
            choices=["celery", "thread", "inline"],
            default="inline",
            help="where to build (default inline: this command waits until the builds finish)",
        )

    def handle(self, *args, populations, stale_minutes, executor, **options):
        if populations:
            found = Population.objects.in_bulk(populations)
            missing = sorted(set(populations) - set(found))
            if missing:
                raise CommandError(f"No population with id {', '.join(map(str, missing))}.")
            finished = [p for p in found.values() if p.status not in UNFINISHED]
            if finished:
                raise CommandError(
                    "Nothing to take up: "
                    + "; ".join(f"population {p.pk} is {p.status}" for p in finished)
                    + ". Only queued or building populations continue; a failed one is created "
                    "again."
                )
            ids = sorted(found)
            for population_id in ids:
                population_build_dispatch(population_id=population_id, executor=executor)
        elif stale_minutes is not None:
            if stale_minutes < 1:
                raise CommandError(
                    f"--stale-minutes must be at least 1; got {stale_minutes}. A build idle for "
                    "less may still be in a live worker's hands."
                )
            ids = populations_resume_stale(
                stale_for=timedelta(minutes=stale_minutes), executor=executor
            )
            if not ids:
                self.stdout.write(
                    f"No queued or building population has been idle for {stale_minutes} minutes."
                )
                return
        else:
            raise CommandError(
                "Say which builds to take up: --population ID for one you know was orphaned, or "
                "--stale-minutes N for every queued or building population with no progress for "
                "N minutes. Taking up every unfinished build would hand builds that live workers "
                "are still writing to a second one."
            )
        for population in Population.objects.filter(pk__in=ids).order_by("pk"):
            line = (
                f"Population {population.pk}: {population.status}, "
                f"{population.personas_done}/{population.size} personas"
            )
            if population.error_message:
                line += f" ({population.error_message})"
            self.stdout.write(line)
