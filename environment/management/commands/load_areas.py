from __future__ import annotations

from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from environment.services import DATA_DIR, area_load_from_files


class Command(BaseCommand):
    help = (
        "Load all states, counties and cities with census marginals, presidential results and "
        "economic indicators from the bundled real data files (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", type=Path, default=DATA_DIR)

    def handle(self, *args, data_dir: Path, **options):
        try:
            report = area_load_from_files(data_dir=data_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"Could not load areas from {data_dir}: {exc}") from exc
        self.stdout.write(
            f"Areas: {report.states} states, {report.counties} counties, {report.cities} cities "
            f"({report.created} new, {report.updated} updated); {report.marginals} marginals, "
            f"{report.election_results} election results, {report.indicators} economic "
            f"indicators, {report.gaps} recorded data gaps."
        )
        # Every county lacks the same dimensions, so they are counted rather than listed.
        county_gaps: Counter[str] = Counter()
        for area_id, dims in report.missing_dimensions.items():
            if area_id.endswith("_county"):
                county_gaps.update(dims)
            else:
                self.stdout.write(f"  {area_id}: no census marginals for {', '.join(dims)}")
        for dimension, count in sorted(county_gaps.items()):
            self.stdout.write(f"  {count} counties: no census marginals for {dimension}")
