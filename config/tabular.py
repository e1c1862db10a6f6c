"""Tables out of the API and the command line: a typed header and rows, written as CSV text or as
Parquet, a batch at a time, so a run of a million answers streams without being held in memory.

A `Table` is produced by the app that owns the data (`studies.exports`, `personas.exports`); this
module only writes it and picks the format a request asked for.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from django.http import StreamingHttpResponse

from config.errors import DomainError

ColumnType = Literal["int", "float", "str", "bool"]

MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
}
# Media types clients send for Parquet besides the registered one.
_ACCEPT_ALIASES = {"application/x-parquet": "parquet", "application/parquet": "parquet"}

_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}

#: Rows per Parquet row group (and per CSV chunk handed to the response).
BATCH_ROWS = 5_000


@dataclass(frozen=True)
class Table:
    """A header of (name, type) columns and the rows, each a sequence in the header's order.
    `rows` may be a one-shot iterator (a queryset's `.iterator()`)."""

    columns: Sequence[tuple[str, ColumnType]]
    rows: Iterable[Sequence[Any]]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def csv_chunks(table: Table, *, batch_rows: int = BATCH_ROWS) -> Iterator[str]:
    """The table as CSV text: the header, then a chunk of rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.names)
    yield buffer.getvalue()
    for batch in _batches(table.rows, batch_rows):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(["" if v is None else v for v in row] for row in batch)
        yield buffer.getvalue()


class _Drain(io.RawIOBase):
    """A write-only file that hands over what was written since it was last drained: pyarrow
    writes a row group into it, the response sends those bytes on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        chunk = b"".join(self._parts)
        self._parts.clear()
        return chunk


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([pa.field(name, _ARROW_TYPES[kind]) for name, kind in table.columns])


def parquet_chunks(table: Table, *, batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """The table as a Parquet file, one row group per `batch_rows` rows, sent as each is written
    (the footer comes last, when the rows run out)."""
    schema = arrow_schema(table)
    sink = _Drain()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd")
    try:
        for batch in _batches(table.rows, batch_rows):
            columns = list(zip(*batch, strict=True))
            writer.write_batch(
                pa.record_batch(
                    [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
                    schema=schema,
                )
            )
            yield sink.drain()
    finally:
        writer.close()
    yield sink.drain()


def table_chunks(table: Table, file_format: str) -> Iterator[str] | Iterator[bytes]:
    if file_format == "parquet":
        return parquet_chunks(table)
    return csv_chunks(table)


def requested_format(
    query: dict[str, str] | Any,
    accept: str,
    *,
    allowed: Sequence[str],
    default: str,
    param: str = "format",
) -> str:
    """The file format a request asks for: ``?format=`` when given (anything but one of
    `allowed` is a 400 that lists them), else the first allowed type its Accept header names,
    else `default`."""
    explicit = (query.get(param) or "").strip().lower()
    if explicit:
        if explicit not in allowed:
            raise DomainError(
                f"{param} must be one of {', '.join(allowed)}; got '{explicit}'.",
                code="unknown_format",
                fields={param: [f"one of {', '.join(allowed)}"]},
            )
        return explicit
    by_media = {MEDIA_TYPES[f]: f for f in allowed if f in MEDIA_TYPES}
    by_media |= {m: f for m, f in _ACCEPT_ALIASES.items() if f in allowed}
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in by_media:
            return by_media[media]
    return default


# --- HTTP ------------------------------------------------------------------------------------


def wants_anonymized(query: dict[str, str] | Any) -> bool:
    return str(query.get("anonymized", "")).lower() in ("1", "true", "yes")


def table_response(table: Table, file_format: str, *, filename: str) -> StreamingHttpResponse:
    """The table streamed as a download, `filename` without its extension."""
    response = StreamingHttpResponse(
        table_chunks(table, file_format), content_type=MEDIA_TYPES[file_format]
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.{file_format}"'
    return response


class FileNegotiationMixin:
    """For API views that answer with files DRF does not render: ``?format=csv`` and an Accept
    of text/csv reach the view (which picks the format with `requested_format`) instead of
    ending in DRF's 404 or 406; errors are still JSON."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)  # type: ignore[misc]
