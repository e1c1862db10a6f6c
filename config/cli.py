"""What the management commands share: exit codes that say what failed, a progress bar, and
`--json` output for scripts.

Exit codes (also in the README):

====  =====================================================================================
0     done
1     an unexpected error (a bug, or a service down)
2     the command line itself is wrong (argparse: unknown option, missing argument)
3     something named does not exist (or is not yours): a population, study, run, area, poll
4     the request was refused as invalid (the message says which value and why)
5     the run ended without completing: failed, cancelled or stopped at its budget
6     not ready: the run has no results yet
====  =====================================================================================
"""

from __future__ import annotations

import json
import sys
import time
from enum import IntEnum
from typing import Any, TextIO, TypeVar

from django.core.management.base import CommandError
from django.db.models import Model, QuerySet

from config.errors import DomainError
from config.ownership import visible_to

M = TypeVar("M", bound=Model)


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    NOT_FOUND = 3
    INVALID = 4
    RUN_NOT_COMPLETED = 5
    NOT_READY = 6


def fail(message: str, code: ExitCode) -> CommandError:
    """A CommandError that exits with `code` (raise it)."""
    return CommandError(message, returncode=int(code))


def refused(exc: DomainError) -> CommandError:
    """A domain refusal as a command error: not found for an unknown object (its code starts
    with "unknown"), invalid otherwise."""
    code = ExitCode.NOT_FOUND if exc.code.startswith("unknown") else ExitCode.INVALID
    return fail(exc.message, code)


def scoped(queryset: QuerySet[M], user: Any, *, owner_field: str = "created_by") -> QuerySet[M]:
    """What a command may touch: everything for the operator (no --user), else what `user` may
    see through the API (`config.ownership.visible_to`)."""
    return queryset if user is None else visible_to(queryset, user, owner_field=owner_field)


def lookup(queryset: QuerySet[M], pk: int, what: str) -> M:
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise fail(f"No {what} {pk} (or it is not yours).", ExitCode.NOT_FOUND)
    return obj


def command_user(username: str | None) -> Any:
    """The user a command acts for (`--user`), or None: the operator, who owns what it creates
    as the demo does and sees everything."""
    if not username:
        return None
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise fail(f"No user named {username!r}.", ExitCode.NOT_FOUND)
    return user


def write_json(stream: Any, payload: Any) -> None:
    stream.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False))


def raw_stream(stream: Any) -> TextIO:
    """The file under a command's `self.stderr` (Django's OutputWrapper ends every write with a
    newline, which would stop a bar from redrawing in place); stderr when none is given."""
    if stream is None:
        return sys.stderr
    return getattr(stream, "_out", stream)


class ProgressBar:
    """A one-line bar redrawn in place on a terminal; elsewhere (a log, a pipe) a line at every
    tenth of the way, so a captured output stays short. Writes to stderr by default, so stdout
    keeps only the result (and stays valid JSON with --json)."""

    def __init__(
        self, label: str, total: int, *, stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.label, self.total, self.width = label, max(total, 0), width
        self.stream = raw_stream(stream)
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.started = time.monotonic()
        self._last_tenth = -1

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        self.done = min(done, self.total) if self.total else done
        fraction = self.done / self.total if self.total else 1.0
        if self.tty:
            filled = int(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {fraction:4.0%}")
            self.stream.flush()
            return
        tenth = int(fraction * 10)
        if tenth > self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(f"{self.label}: {self.done}/{self.total} ({fraction:.0%})\n")
            self.stream.flush()

    def finish(self, note: str = "") -> None:
        self.update(self.total)
        elapsed = time.monotonic() - self.started
        end = f" — {note}" if note else ""
        self.stream.write(
            ("\n" if self.tty else "") + f"{self.label}: done in {elapsed:.1f} s{end}\n"
        )
        self.stream.flush()


class StepTimer:
    """For a long step with no count to show (generating a population in one call): a line when
    it starts and one with its time when it ends."""

    def __init__(self, label: str, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = raw_stream(stream)

    def __enter__(self) -> StepTimer:
        self.started = time.monotonic()
        self.stream.write(f"{self.label}…\n")
        self.stream.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"{self.label}: done in {elapsed:.1f} s\n")
            self.stream.flush()


class BarReporter:
    """A run's progress reporter (`studies.progress.Reporter`) drawing a ProgressBar."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar = bar

    def progress(self, *, status: str, done: int, total: int, cost: str | None = None) -> None:
        self.bar.update(done, total)

    def completion(self, *, status: str, done: int, total: int) -> None:
        self.bar.update(done, total)

    def error(self, *, message: str, done: int, total: int) -> None:
        self.bar.stream.write(f"\n{message}\n")
