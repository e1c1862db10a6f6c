"""Stored JSON (run results, validation metrics, population reports) as HTML tables for the
admin's read-only fields: a dict is a two-column table, a list of records one table with a column
per key, and anything long or nested folds into a `<details>` a curator opens when needed."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# Tables with more rows than this start folded.
FOLD_ROWS = 12
# Deeper structures than this are shown as indented JSON rather than tables within tables.
MAX_DEPTH = 6


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _fold(summary: str, body: SafeString, *, rows: int, open_: bool = False) -> SafeString:
    if rows <= FOLD_ROWS and not open_:
        return body
    return format_html(
        "<details{}><summary>{}</summary>{}</details>", " open" if open_ else "", summary, body
    )


def _records(items: list[dict], depth: int) -> SafeString:
    columns: list[str] = []
    for item in items:
        columns += [k for k in item if k not in columns]
    head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (
                format_html_join(
                    "", "<td>{}</td>", ((json_tables(i.get(c), depth=depth + 1),) for c in columns)
                ),
            )
            for i in items
        ),
    )
    table = format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
    return _fold(f"{len(items)} rows", table, rows=len(items))


def json_tables(value: Any, *, depth: int = 0) -> SafeString:
    """`value` (parsed JSON) as nested HTML tables, every string escaped."""
    if _scalar(value):
        return format_html("{}", _cell(value))
    if depth >= MAX_DEPTH:
        return format_html("<pre>{}</pre>", json.dumps(value, indent=2, default=str))
    if isinstance(value, dict):
        if not value:
            return format_html("{}", "—")
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td></tr>",
            ((key, json_tables(item, depth=depth + 1)) for key, item in value.items()),
        )
        table = format_html("<table><tbody>{}</tbody></table>", rows)
        return _fold(f"{len(value)} entries", table, rows=len(value))
    if isinstance(value, list | tuple):
        if not value:
            return format_html("{}", "—")
        if all(_scalar(v) for v in value):
            return format_html("{}", ", ".join(_cell(v) for v in value))
        if all(isinstance(v, dict) for v in value):
            return _records(list(value), depth)
        parts = format_html_join(
            "", "<li>{}</li>", ((json_tables(v, depth=depth + 1),) for v in value)
        )
        return _fold(f"{len(value)} items", format_html("<ol>{}</ol>", parts), rows=len(value))
    return format_html("{}", str(value))
