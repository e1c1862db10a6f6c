from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.data_rights import user_data_delete


class Command(BaseCommand):
    help = (
        "Delete everything a user owns (runs, studies, populations, validation runs, API keys), "
        "all or nothing; the audit log keeps an entry. Cannot be undone."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--account", action="store_true", help="Delete the account too")
        parser.add_argument("--yes", action="store_true", help="Confirm: required")

    def handle(self, *args, username: str, account: bool, yes: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not yes:
            raise CommandError("Deleting a user's data cannot be undone: add --yes to confirm.")
        report = user_data_delete(user=user, actor=None, delete_account=account, via="cli")
        self.stdout.write(json.dumps(report.as_dict()))
