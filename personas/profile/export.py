"""Persona pools as ``personas.json``: export, validated import, anonymization. Pure functions.

Layout (version 1)::

    {
      "format": "persona-lab/personas",
      "version": 1,
      "anonymized": false,
      "personas": [
        {"age": 34, "age_bracket": "25_34", "sex": "female", "race_ethnicity": "hispanic",
         "education": "bachelors", "income": "50_75k", "state": "TX",
         "media_consumption": 3, ..., "openness": 61.2, ..., "tech_devices": ["smartphone"],
         "first_name": "Maria", "last_name": "Garcia", "name": "Maria Garcia"},
        ...
      ]
    }

A row holds the demographics (``age`` or, in an anonymized pool, ``age_bucket`` such as ``"30_34"``;
``age_bracket``, ``sex``, ``race_ethnicity``, ``education``, ``income`` required; ``state`` optional),
optionally any ``PROFILE_FIELDS`` column, and optionally the bookkeeping keys ``id``, ``index``,
``area``, ``population``. Any other key is rejected, so a misspelt field is caught rather than lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from typing import Any, Final

import numpy as np

from environment.categories import AGE_BRACKETS, DIMENSIONS
from personas.profile.fields import FIELDS_BY_NAME

FORMAT: Final = "persona-lab/personas"
VERSION: Final = 1
DEMOGRAPHIC_FIELDS: Final = ("age_bracket", "sex", "race_ethnicity", "education", "income")
BOOKKEEPING_FIELDS: Final = ("id", "index", "area", "population", "state")
MIN_AGE: Final = 18
MAX_AGE: Final = 120
# Free-text fields (names, occupation) fit Persona.name's column and stay readable in a prompt.
MAX_TEXT_LENGTH: Final = 120
# Exact identifiers dropped by anonymize(): the name parts and any free text that could carry them.
# Fields that point at the stored record a row came from (dropped by `anonymize`).
RECORD_LINKS: Final = ("id", "index", "population")

IDENTIFYING_FIELDS: Final = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "street_address",
    "postal_code",
    "zip",
    "narrative",
    "biography",
    "notes",
)
_AGE_BUCKET: Final = re.compile(r"^(\d{2,3})_(\d{2,3})$")


class PoolFormatError(ValueError):
    """A personas.json that does not follow the layout; ``errors`` lists every problem found and
    ``fields`` groups them by where they are (``"personas[3].sex"``, ``"format"``)."""

    def __init__(self, errors: list[str], fields: dict[str, list[str]] | None = None) -> None:
        self.errors = errors
        self.fields = fields if fields is not None else {"personas": list(errors)}
        shown = "; ".join(errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(f"invalid personas.json: {shown}{more}")

    @classmethod
    def at(cls, problems: list[tuple[str, str]]) -> PoolFormatError:
        """From (where, message) pairs."""
        fields: dict[str, list[str]] = {}
        for where, message in problems:
            fields.setdefault(where, []).append(message)
        return cls([message for _, message in problems], fields)


def _plain(value: Any) -> Any:
    """JSON-ready value: numpy scalars to Python, tuples and arrays to lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list | np.ndarray):
        return [_plain(v) for v in value]
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_field(name: str, value: Any) -> str | None:
    """An error message for one profile field's value, or None."""
    field = FIELDS_BY_NAME[name]
    if field.type == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"field {name!r}: expected a list of strings, got {value!r}"
        unknown = [v for v in value if field.values and v not in field.values]
        if unknown:
            return f"field {name!r}: {unknown[0]!r} is not one of {', '.join(field.values or ())}"
        return None
    if field.type == "int":
        if not _is_int(value):
            return f"field {name!r}: expected an integer, got {value!r}"
    elif field.type == "float":
        if not (_is_int(value) or isinstance(value, float)) or not math.isfinite(value):
            return f"field {name!r}: expected a finite number, got {value!r}"
    elif not isinstance(value, str) or not value:
        return f"field {name!r}: expected a non-empty string, got {value!r}"
    elif len(value) > MAX_TEXT_LENGTH:
        return f"field {name!r}: {len(value)} characters; at most {MAX_TEXT_LENGTH} characters"
    if field.values is not None and value not in field.values:
        return f"field {name!r}: {value!r} is not one of {', '.join(field.values)}"
    if field.range is not None and not field.range[0] <= value <= field.range[1]:
        return f"field {name!r}: {value!r} is outside {field.range[0]}–{field.range[1]}"
    return None


def _bracket_holds(bracket: str, low: int, high: int) -> bool:
    """Whether ages low..high lie in the census age bracket (the last one is open-ended)."""
    lo, hi = AGE_BRACKETS[bracket]
    open_ended = bracket == list(AGE_BRACKETS)[-1]
    return lo <= low and (open_ended or high <= hi)


# A pre-defined persona may carry its life context (the persona engine's context step, already
# done): the LLM backend then skips context engineering for it.
POOL_CONTEXT_FIELD = "context"


def _context_problem(value: Any) -> str:
    from pydantic import ValidationError

    from personas.engine.schemas import PersonaContext

    try:
        PersonaContext.model_validate(value)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'context'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        return (
            "field 'context' must be an object with life_narrative, relevant_habits, "
            f"attitudes_and_opinions, pain_points and motivations ({details})"
        )
    return ""


# (field name, message) of one row's problem, before the row's position is added.
_Problem = tuple[str, str]


def _demographic_problems(row: dict, age_key: str) -> list[_Problem]:
    """The required fields that are missing, and demographic codes that are not categories."""
    problems = [
        (name, f"field {name!r} is missing")
        for name in (age_key, *DEMOGRAPHIC_FIELDS)
        if name not in row
    ]
    for name in DEMOGRAPHIC_FIELDS:
        if name in row and not (isinstance(row[name], str) and row[name] in DIMENSIONS[name]):
            allowed = ", ".join(DIMENSIONS[name])
            problems.append((name, f"field {name!r}: {row[name]!r} is not one of {allowed}"))
    return problems


def _age_problems(row: dict, *, anonymized: bool) -> list[_Problem]:
    """The exact age, or an anonymized pool's five-year age bucket, malformed or outside the
    row's age bracket."""
    bracket = row.get("age_bracket")
    bracket = bracket if isinstance(bracket, str) and bracket in AGE_BRACKETS else None
    if anonymized and "age_bucket" in row:
        bucket = row["age_bucket"]
        match = _AGE_BUCKET.match(bucket) if isinstance(bucket, str) else None
        if not match:
            return [("age_bucket", f"field 'age_bucket': {bucket!r} is not like '30_34'")]
        if bracket and not _bracket_holds(bracket, int(match[1]), int(match[2])):
            return [
                ("age_bucket", f"field 'age_bucket': {bucket} is outside its age_bracket {bracket}")
            ]
    elif not anonymized and "age" in row:
        age = row["age"]
        if not _is_int(age) or not MIN_AGE <= age <= MAX_AGE:
            return [("age", f"field 'age': {age!r} is not an integer {MIN_AGE}–{MAX_AGE}")]
        if bracket and not _bracket_holds(bracket, age, age):
            return [("age", f"field 'age': {age} is outside its age_bracket {bracket}")]
    return []


def _place_problems(row: dict) -> list[_Problem]:
    problems = []
    if "area" in row and not (isinstance(row["area"], str) and row["area"]):
        problems.append(("area", f"field 'area': expected an area id string, got {row['area']!r}"))
    if "state" in row and not (isinstance(row["state"], str) and len(row["state"]) == 2):
        problems.append(("state", f"field 'state': {row['state']!r} is not a two-letter USPS code"))
    return problems


def _field_problems(row: dict, *, age_key: str) -> list[_Problem]:
    """The profile fields and the pool context checked by their type; a field the layout does not
    have is named."""
    known = {age_key, *DEMOGRAPHIC_FIELDS, *BOOKKEEPING_FIELDS, *FIELDS_BY_NAME, POOL_CONTEXT_FIELD}
    problems = []
    for name, value in row.items():
        message: str | None
        if name == POOL_CONTEXT_FIELD:
            message = _context_problem(value)
        elif name in FIELDS_BY_NAME:
            message = _check_field(name, value)
        elif name not in known:
            message = f"field {name!r} is not part of the personas.json layout"
        else:
            message = None
        if message:
            problems.append((name, message))
    return problems


def _row_errors(position: int, row: Any, *, anonymized: bool) -> list[tuple[str, str]]:
    """(where, message) for every problem of one row; values of any JSON type are checked, never
    assumed, so a list where a code belongs is a problem reported, not a crash."""
    where = f"row {position}"
    if not isinstance(row, dict):
        return [(f"personas[{position}]", f"{where}: expected an object, got {type(row).__name__}")]
    age_key = "age_bucket" if anonymized else "age"
    problems = [
        *_demographic_problems(row, age_key),
        *_age_problems(row, anonymized=anonymized),
        *_place_problems(row),
        *_field_problems(row, age_key=age_key),
    ]
    return [(f"personas[{position}].{name}", f"{where}: {message}") for name, message in problems]


def pool_to_json(rows: list[dict]) -> str:
    """Serialize personas (dicts, e.g. from ``DataFrame.to_dict("records")``) to personas.json.

    The rows are validated as an import would validate them, so a file written here always reads back.
    """
    plain = [{key: _plain(value) for key, value in row.items()} for row in rows]
    anonymized = any("age_bucket" in row for row in plain)
    errors = [e for i, row in enumerate(plain) for e in _row_errors(i, row, anonymized=anonymized)]
    if errors:
        raise PoolFormatError.at(errors)
    document = {"format": FORMAT, "version": VERSION, "anonymized": anonymized, "personas": plain}
    return json.dumps(document, ensure_ascii=False, indent=1)


def pool_from_json(text: str) -> list[dict]:
    """Parse and validate personas.json; raise PoolFormatError naming every bad row and field."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PoolFormatError.at([("pool", f"not JSON: {error}")]) from error
    if not isinstance(document, dict):
        raise PoolFormatError.at(
            [("pool", "expected an object with 'format', 'version' and 'personas'")]
        )
    if document.get("format") != FORMAT:
        raise PoolFormatError.at(
            [("format", f"'format' must be {FORMAT!r}, got {document.get('format')!r}")]
        )
    if document.get("version") != VERSION:
        raise PoolFormatError.at(
            [("version", f"'version' {document.get('version')!r} is not supported ({VERSION})")]
        )
    personas = document.get("personas")
    if not isinstance(personas, list):
        raise PoolFormatError.at([("personas", "'personas' must be a list")])
    anonymized = document.get("anonymized", False)
    if not isinstance(anonymized, bool):
        raise PoolFormatError.at(
            [("anonymized", f"'anonymized' must be true or false, got {anonymized!r}")]
        )
    errors = [
        e for i, row in enumerate(personas) for e in _row_errors(i, row, anonymized=anonymized)
    ]
    if errors:
        raise PoolFormatError.at(errors)
    return personas


def age_bucket(age: int) -> str:
    """Five-year bucket of an exact age: 37 -> "35_39" (18 and 19 -> "18_19")."""
    low = age // 5 * 5
    return f"{max(low, MIN_AGE)}_{low + 4}"


def pseudonym(key: str, *, salt: str) -> str:
    """Stable pseudonym for a key under a salt: the same person gets the same one in every export."""
    digest = hmac.new(salt.encode(), key.encode(), hashlib.sha256).hexdigest()
    return f"persona-{digest[:12]}"


def anonymize(rows: list[dict], *, salt: str) -> list[dict]:
    """Rows safe to share: exact age -> 5-year ``age_bucket``, name -> keyed pseudonym, exact
    identifiers (``IDENTIFYING_FIELDS``) and the record links (``id``, ``index``) dropped, rows in
    pseudonym order rather than population order, so nothing leads back to the full records. Keep
    ``salt`` secret: with it, pseudonyms can be recomputed from guessed names."""
    result = []
    for position, row in enumerate(rows):
        clean = {
            k: _plain(v)
            for k, v in row.items()
            if k not in IDENTIFYING_FIELDS and k not in RECORD_LINKS
        }
        if "age" in clean:
            clean["age_bucket"] = age_bucket(int(clean.pop("age")))
        # The persona's id keeps two personas with the same name apart; a name alone still maps
        # to one pseudonym.
        identity = f"{row.get('id', row.get('index', ''))}|{row.get('name', position)}"
        clean["name"] = pseudonym(identity, salt=salt)
        result.append(clean)
    result.sort(key=lambda r: r["name"])
    return result
