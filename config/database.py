"""What code that opens more than one connection to the database needs to know about it."""

from __future__ import annotations

from django.db import connection


def database_shared_with_other_connections() -> bool:
    """Whether another connection (a thread's own, another process's) opens the same database as
    this thread's: not for an in-memory SQLite database."""
    if connection.vendor != "sqlite":
        return True
    return not connection.is_in_memory_db()  # type: ignore[attr-defined]
