from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.data_rights import user_data_export


class Command(BaseCommand):
    help = (
        "Write everything a user owns to one zip (populations, studies, runs with each persona's "
        "artefacts, held runs, analyses, simulations, validation runs)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--output", required=True, help="Path of the zip to write")

    def handle(self, *args, username: str, output: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        path = Path(output)
        if not path.parent.exists():
            raise CommandError(f"The folder {path.parent} does not exist.")
        path.write_bytes(user_data_export(user=user, actor=None, via="cli"))
        self.stdout.write(f"Wrote {path} ({path.stat().st_size:,} bytes).")
