from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from accounts.data_rights import retention_apply


class Command(BaseCommand):
    help = (
        "Anonymise or delete runs (and unused populations) older than RETENTION_DAYS; Celery "
        "beat runs this daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="Override RETENTION_DAYS")
        parser.add_argument(
            "--mode", choices=["anonymize", "delete"], help="Override RETENTION_MODE"
        )

    def handle(self, *args, days: int | None, mode: str | None, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more.")
        report = retention_apply(days=days, mode=mode)
        if report is None:
            self.stdout.write("Retention is off (RETENTION_DAYS is not set); nothing changed.")
            return
        self.stdout.write(json.dumps(report.as_dict()))
