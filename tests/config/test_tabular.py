"""Tables written as CSV and Parquet a batch at a time, and the format a request asks for."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import pytest

from config.errors import DomainError
from config.tabular import Table, csv_chunks, parquet_chunks, requested_format

COLUMNS = [("id", "int"), ("label", "str"), ("share", "float")]


def _rows(n: int):
    return ([i, f"row {i}" if i % 3 else None, i / 10] for i in range(n))


def test_parquet_is_written_one_row_group_per_batch_and_sent_as_it_goes():
    chunks = list(parquet_chunks(Table(COLUMNS, _rows(25)), batch_rows=10))
    assert len(chunks) >= 4 and all(chunks[:3])  # three row groups, then the footer
    parquet = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert parquet.metadata.num_row_groups == 3 and parquet.metadata.num_rows == 25
    table = parquet.read().to_pylist()
    assert table[4] == {"id": 4, "label": "row 4", "share": 0.4}
    assert table[3]["label"] is None


def test_csv_has_the_header_then_every_row_with_empty_cells_for_missing_values():
    text = "".join(csv_chunks(Table(COLUMNS, _rows(7)), batch_rows=3))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "label", "share"] and len(rows) == 8
    assert rows[1] == ["0", "", "0.0"] and rows[2] == ["1", "row 1", "0.1"]


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ({"format": "parquet"}, "text/csv", "parquet"),
        ({}, "application/vnd.apache.parquet", "parquet"),
        ({}, "application/x-parquet;q=0.9, text/csv", "parquet"),
        ({}, "text/csv", "csv"),
        ({}, "*/*", "json"),
        ({}, "application/xml", "json"),
    ],
)
def test_the_format_comes_from_the_parameter_then_the_accept_header(query, accept, expected):
    assert (
        requested_format(query, accept, allowed=("json", "csv", "parquet"), default="json")
        == expected
    )


def test_an_unknown_format_names_the_valid_ones():
    with pytest.raises(DomainError) as refused:
        requested_format({"format": "xlsx"}, "", allowed=("csv", "parquet"), default="csv")
    assert refused.value.message == "format must be one of csv, parquet; got 'xlsx'."
