"""The pool side of `studies.lanes`: what a spawned pool process runs.

A spawned process unpickles its initializer and tasks by importing their module before anything
else, so this module imports nothing of the application at its top (the models need
`django.setup()`, which the initializer does first).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studies.progress import Stage

logger = logging.getLogger(__name__)


class ChunkFailed(Exception):
    """A chunk on the pool raised; its argument is the message the run stores."""


class _Recorder:
    """A pool chunk's reporter: progress is the calling process's to relay (from the run's
    counters); a completion or an error (a stop at the budget) is kept and relayed as it was."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def progress(
        self,
        *,
        status: str,
        done: int,
        total: int,
        cost: str | None = None,
        stage: Stage | None = None,
    ) -> None:
        pass

    def completion(self, *, status: str, done: int, total: int) -> None:
        self.events.append(("completion", {"status": status, "done": done, "total": total}))

    def error(self, *, message: str, done: int, total: int) -> None:
        self.events.append(("error", {"message": message, "done": done, "total": total}))


def pool_process_start(settings_module: str, database_name: str) -> None:
    """A pool process's initializer: the caller's settings on the caller's database (a test
    database has a name of its own), the application loaded once."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = database_name
    import django

    django.setup()
    from config.collector import tune_collector

    tune_collector()


def answer_chunk(
    run_id: int, start: int, end: int, lanes: int, database_name: str
) -> tuple[int, int, list[tuple[str, dict]]]:
    """One chunk in a pool process: (this process's id, personas answered, the reporter's
    completion and error messages). A failure is raised as `ChunkFailed` with the message the
    run stores (the original is logged here: it need not pickle)."""
    from django.conf import settings
    from django.db import close_old_connections

    from studies.pipeline import run_process_chunk
    from studies.tasks import chunk_failure_message

    if settings.DATABASES["default"]["NAME"] != database_name:
        raise ChunkFailed("the run's database is not the one this pool process was started on")
    close_old_connections()
    recorder = _Recorder()
    try:
        written = run_process_chunk(
            run_id=run_id, start=start, end=end, reporter=recorder, lanes=lanes
        )
    except Exception as exc:
        logger.exception("Run %s chunk %s-%s failed", run_id, start, end)
        raise ChunkFailed(chunk_failure_message(exc, start, end)) from None
    return os.getpid(), written, recorder.events
