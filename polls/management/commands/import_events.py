from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from polls.importers import PollImportError, read_csv_source
from polls.importers.events import EVENT_COLUMNS, events_plan
from polls.services import events_import


class Command(BaseCommand):
    help = (
        f"Import major events from a CSV with columns {', '.join(EVENT_COLUMNS)} (related_topics "
        "separated by ';'). All or nothing; re-importing updates events by date and title."
    )

    def add_arguments(self, parser):
        parser.add_argument("--csv", type=Path, required=True, help="path to the events CSV")

    def handle(self, *args, csv: Path, **options):
        try:
            report = events_import(plans=events_plan(read_csv_source(csv)))
        except PollImportError as exc:
            lines = "\n  - ".join(exc.problems)
            raise CommandError(
                f"Nothing was imported. Fix these problems and run again:\n  - {lines}"
            ) from exc
        self.stdout.write(f"Events: {report.created} created, {report.updated} updated.")
