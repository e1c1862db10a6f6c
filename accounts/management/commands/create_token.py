from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import token_create


class Command(BaseCommand):
    help = (
        "Create a user's API token (Authorization: Token <key>) and print its key, once: only a "
        "hash is stored. A previous token of the user stops working."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}; create it first (createsuperuser).")
        _, key = token_create(user=user)
        self.stdout.write(key)
