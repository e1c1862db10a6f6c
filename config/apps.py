"""The project's own app: makes the directories the settings point at, once Django is set up."""

from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


def runtime_directories() -> list[Path]:
    """VAR_DIR (the demo's credentials, poll uploads), STATIC_ROOT (whitenoise warns when it is
    missing) and the folder of each SQLite file, which SQLite will not create itself."""
    folders = [Path(settings.VAR_DIR)]
    if settings.STATIC_ROOT:
        folders.append(Path(settings.STATIC_ROOT))
    for database in settings.DATABASES.values():
        if not database["ENGINE"].endswith("sqlite3"):
            continue
        for name in (database.get("NAME"), database.get("TEST", {}).get("NAME")):
            if name and str(name) != ":memory:" and not str(name).startswith("file:"):
                folders.append(Path(name).parent)
    return folders


class ProjectConfig(AppConfig):
    name = "config"
    verbose_name = "Persona Lab"

    def ready(self) -> None:
        # Here rather than in the settings: importing a settings module (a test that reads
        # production's, a tool that inspects them) should not write to the disk.
        for folder in runtime_directories():
            folder.mkdir(parents=True, exist_ok=True)
