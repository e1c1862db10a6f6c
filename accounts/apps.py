from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Clients: API keys and audit log"

    def ready(self) -> None:
        from accounts import (  # noqa: F401
            schema,  # the API key scheme in the OpenAPI schema
            signals,  # admin edits into the audit log
        )
