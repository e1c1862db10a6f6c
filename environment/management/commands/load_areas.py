from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from environment.services import DATA_DIR, area_load_from_files


class Command(BaseCommand):
    help = "Load all states and cities with census marginals from the bundled real data files."

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", type=Path, default=DATA_DIR)

    def handle(self, *args, data_dir: Path, **options):
        try:
            report = area_load_from_files(data_dir=data_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"Could not load areas from {data_dir}: {exc}") from exc
        self.stdout.write(
            f"Areas: {report.states} states, {report.cities} cities "
            f"({report.created} new, {report.updated} updated); {report.marginals} marginals."
        )
        for area_id, dims in report.missing_dimensions.items():
            self.stdout.write(f"  {area_id}: no census marginals for {', '.join(dims)}")
