from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from config.cli import ProgressBar
from polls.bundled import BUNDLED_DATASETS
from polls.importers import PollImportError, load_mapping, plans_for
from polls.services import polls_import


class Command(BaseCommand):
    help = (
        "Import every bundled survey (polls/bundled.py) with its mapping; safe to run again "
        "(each poll is updated by slug). Prints each dataset's respondent, response and "
        "crosstab row counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--only", nargs="*", default=None, help="dataset names to load (default: all)"
        )

    def handle(self, *args, only=None, **options):
        datasets = [d for d in BUNDLED_DATASETS if not only or d.name in only]
        unknown = set(only or []) - {d.name for d in BUNDLED_DATASETS}
        if unknown:
            names = ", ".join(d.name for d in BUNDLED_DATASETS)
            raise CommandError(f"No bundled dataset named {sorted(unknown)}; choose from {names}")
        header = (
            f"{'dataset':40} {'polls':>6} {'respondents':>12} {'responses':>10} {'crosstabs':>10}"
        )
        self.stdout.write(header)
        bar = ProgressBar("Importing polls", len(datasets), stream=self.stderr)
        for done, dataset in enumerate(datasets, start=1):
            started = time.perf_counter()
            try:
                plans = plans_for(dataset.read(), load_mapping(dataset.mapping_path))
                reports = polls_import(plans=plans)
            except PollImportError as exc:
                lines = "\n  - ".join(exc.problems)
                raise CommandError(
                    f"{dataset.name} ({dataset.location}, mapping {dataset.mapping}) was not "
                    f"imported; the datasets listed above were. Problems:\n  - {lines}"
                ) from exc
            self.stdout.write(
                f"{dataset.name:40} {len(reports):>6} "
                f"{sum(r.respondents for r in reports):>12,} "
                f"{sum(r.responses for r in reports):>10,} "
                f"{sum(r.crosstabs for r in reports):>10,}"
                f"   ({time.perf_counter() - started:.1f} s)"
            )
            for plan in plans:
                if plan.dropped:
                    self.stdout.write(f"  Left out as the mapping says: {plan.dropped_summary}.")
            bar.update(done)
        bar.finish(f"{len(datasets)} datasets")
