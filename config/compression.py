"""Large columns compressed with LZ4 on PostgreSQL, a migration operation.

PostgreSQL compresses a row's large values (TOAST) with its own pglz unless a column says
otherwise. A run of model calls stores about 36 kB of prompts, replies and persona artefacts per
persona. Measured:
- 10,000 call-log prompts inserted alone: 2.0 s of the server's CPU with pglz, 0.9-1.0 s with LZ4,
  and about the same size (40 MB against 41 MB).
- The 10,000-persona run on two workers (bench/llm_engine.py --mode large_workers, one pair, load
  0.9-2.4, LZ4 set as the server's default for the experiment): PostgreSQL's CPU 23.7 -> 17.2 s,
  wall 74.3 -> 70.1 s.

Only values written afterwards are compressed with LZ4; those stored before keep pglz, and both
read the same. A server built without LZ4 keeps pglz, one older than PostgreSQL 14 (no per-column
compression) is left as it is, and so are other databases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import migrations


def _methods(schema_editor) -> list[str]:
    """The compression methods the server offers (none before PostgreSQL 14)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return list(row[0] or []) if row else []


def _set_compression(
    columns: Sequence[tuple[str, Sequence[str]]], method: str
) -> Callable[[Any, Any], None]:
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        methods = _methods(schema_editor)
        if not methods or (method != "default" and method not in methods):
            return
        quote = schema_editor.quote_name
        for label, fields in columns:
            model = apps.get_model(label)
            table = quote(model._meta.db_table)
            for name in fields:
                column = quote(model._meta.get_field(name).column)
                schema_editor.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}"
                )

    return apply


def compress_with_lz4(*columns: tuple[str, Sequence[str]]) -> migrations.RunPython:
    """The operation setting LZ4 on these columns, each ("app_label.Model", [field names]);
    reversed, they go back to the server's default."""
    return migrations.RunPython(
        _set_compression(columns, "lz4"),
        _set_compression(columns, "default"),
        elidable=False,
    )
