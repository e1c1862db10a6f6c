"""Take up population builds left queued or building by a stopped worker or server."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.background import executor_for
from personas.build import populations_resume_stale
from personas.models import Population
from personas.tasks import population_build_dispatch

UNFINISHED = (Population.Status.QUEUED, Population.Status.BUILDING)


class Command(BaseCommand):
    help = (
        "Continue population builds left queued or building by a stopped worker or server (the "
        "embedded setup has no Celery beat, so nothing else does): a build continues after its "
        "last committed batch, with the personas an uninterrupted build would have. Name the "
        "populations (--population ID) or take up every build with no progress for a while "
        "(--stale-minutes N). Runs held for a population that is ready but were never started "
        "(the process that finished the build stopped first) are started too, once it has been "
        "ready for --held-grace-seconds."
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
            help="where to build and run (default inline: this command waits until the builds and "
            "the runs it starts finish)",
        )
        parser.add_argument(
            "--held-grace-seconds",
            type=float,
            dest="held_grace_seconds",
            default=None,
            help="start runs held on a population ready for longer than this (default "
            "HELD_RUN_START_GRACE_SECONDS); the process that finished the build may still be "
            "starting them within it",
        )

    def handle(self, *args, populations, stale_minutes, executor, held_grace_seconds, **options):
        if held_grace_seconds is None:
            held_grace_seconds = settings.HELD_RUN_START_GRACE_SECONDS
        if held_grace_seconds < 0:
            raise CommandError(
                f"--held-grace-seconds must be 0 or more; got {held_grace_seconds:g}."
            )
        # What the builds start (their held runs) goes where this command was told, not to a
        # daemon thread of a process about to exit.
        with executor_for(executor):
            ids = self._builds(populations, stale_minutes, executor)
            held = self._held_runs(populations, timedelta(seconds=held_grace_seconds))
        if not ids and not held:
            if populations:  # ready, with runs held on it: ready for less than the grace period
                self.stdout.write(
                    f"The runs held on population {', '.join(map(str, sorted(populations)))} "
                    f"wait for the build's own start for {held_grace_seconds:g} s after it was "
                    "ready; give --held-grace-seconds 0 to start them now."
                )
            else:
                self.stdout.write(
                    f"No queued or building population has been idle for {stale_minutes} "
                    "minutes, and no run is waiting on a ready one."
                )
            return
        self._report(ids, held)

    def _builds(self, populations, stale_minutes, executor) -> list[int]:
        """Take up the builds; their ids."""
        if populations:
            found = Population.objects.in_bulk(populations)
            missing = sorted(set(populations) - set(found))
            if missing:
                raise CommandError(f"No population with id {', '.join(map(str, missing))}.")
            finished = [
                p for p in found.values() if p.status not in UNFINISHED and not _runs_waiting_on(p)
            ]
            if finished:
                raise CommandError(
                    "Nothing to take up: "
                    + "; ".join(f"population {p.pk} is {p.status}" for p in finished)
                    + ". Only queued or building populations continue (and ready ones with runs "
                    "still held for them); a failed one is created again."
                )
            ids = sorted(p.pk for p in found.values() if p.status in UNFINISHED)
            for population_id in ids:
                population_build_dispatch(population_id=population_id, executor=executor)
            return ids
        if stale_minutes is not None:
            if stale_minutes < 1:
                raise CommandError(
                    f"--stale-minutes must be at least 1; got {stale_minutes}. A build idle for "
                    "less may still be in a live worker's hands."
                )
            return populations_resume_stale(
                stale_for=timedelta(minutes=stale_minutes), executor=executor
            )
        raise CommandError(
            "Say which builds to take up: --population ID for one you know was orphaned, or "
            "--stale-minutes N for every queued or building population with no progress for "
            "N minutes. Taking up every unfinished build would hand builds that live workers "
            "are still writing to a second one."
        )

    def _held_runs(self, populations, grace: timedelta) -> list:
        """Start the runs held on ready populations (the named ones, or all) for over `grace`."""
        from studies.models import HeldRun  # studies builds on personas
        from studies.services.held_runs import held_runs_start_stale

        settled = held_runs_start_stale(grace=grace, population_ids=populations or None)
        return list(HeldRun.objects.filter(pk__in=settled).select_related("run").order_by("pk"))

    def _report(self, ids: list[int], held: list) -> None:
        for population in Population.objects.filter(pk__in=ids).order_by("pk"):
            line = (
                f"Population {population.pk}: {population.status}, "
                f"{population.personas_done}/{population.size} personas"
            )
            if population.error_message:
                line += f" ({population.error_message})"
            self.stdout.write(line)
        for run in held:
            if run.run_id is not None:
                line = (
                    f"Held run {run.pk} on population {run.population_id}: started run {run.run_id}"
                )
                line += f" ({run.run.status})"
            else:
                line = f"Held run {run.pk} on population {run.population_id}: {run.status}"
                if run.error_message:
                    line += f" ({run.error_message})"
            self.stdout.write(line)


def _runs_waiting_on(population: Population) -> bool:
    """Whether runs are still held for `population`, a ready one."""
    from studies.models import HeldRun  # studies builds on personas

    return (
        population.status == Population.Status.READY
        and HeldRun.objects.filter(population=population, status=HeldRun.Status.HELD).exists()
    )
