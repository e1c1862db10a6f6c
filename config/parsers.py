"""The API's parsers. JSON: bounded in size and depth, no NUL characters, no NaN or Infinity.
Forms: read as plain values, marked as form data (text by nature, so not held to JSON types).

DRF's own parser reads the body stream directly, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does
not bound it; a body nested a thousand levels deep reaches Python's recursion limit; and a NUL
character in a string is refused by PostgreSQL at write time (a 500); Python reads NaN and
Infinity, which JSON does not have. All are the client's mistake and are answered here, before
any view runs, in the API's JSON error shape.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def max_body_bytes() -> int:
    return int(getattr(settings, "API_MAX_BODY_BYTES", 8 * 1024 * 1024))


def too_large_message(limit: int) -> str:
    return (
        f"The request body is larger than {limit:,} bytes, the API's limit. Send less (page a "
        "large import into several requests) or ask the operator to raise API_MAX_BODY_BYTES."
    )


def _check(value: Any, max_depth: int) -> None:
    """Walk the parsed value without recursion: depth bounded, no NUL in any string."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise exceptions.ParseError(
                    f"JSON is nested deeper than {max_depth} levels; flatten the body."
                )
            children = list(item.items()) if isinstance(item, dict) else list(item)
            for child in children:
                if isinstance(child, tuple):  # a key and its value
                    key, child = child
                    if "\x00" in key:
                        raise exceptions.ParseError("A key contains a NUL character (\\u0000).")
                stack.append((child, depth + 1))
        elif isinstance(item, str) and "\x00" in item:
            raise exceptions.ParseError(
                "A string contains a NUL character (\\u0000), which cannot be stored; remove it."
            )


def _not_json(constant: str) -> Any:
    """Python's reader takes NaN and Infinity, which JSON does not have (and a number field
    would store)."""
    raise ValueError(f"{constant} is not JSON; send a finite number or null.")


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(too_large_message(limit))
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_not_json) if raw else {}
        except RecursionError as exc:
            raise exceptions.ParseError("JSON is nested too deeply; flatten the body.") from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        _check(data, int(getattr(settings, "API_MAX_JSON_DEPTH", 32)))
        return data


class FormData(dict):
    """The values of a form or a query string, which are text by nature: a serializer reads
    them as DRF does (``"5"`` for an integer is 5), where a JSON body is held to its JSON types
    (`config.json_types`). Stays itself when DRF copies it to add a multipart body's files."""

    def copy(self) -> FormData:
        return FormData(self)


def is_form_data(data: Any) -> bool:
    """Whether `data` came from a form or a query string (a QueryDict, or one as plain values)."""
    return isinstance(data, FormData) or hasattr(data, "getlist")


def plain_values(data: Any) -> Any:
    """A form or query string (a QueryDict) as plain values: one value as itself, a repeated
    name as a list. DRF reads a QueryDict as an HTML form, where an empty value counts as "not
    given" (``?since=`` or ``expires_at=`` would be silently ignored); as plain values it is
    validated like any other, and refused where the schema says it is invalid."""
    if not hasattr(data, "lists"):
        return data
    return FormData(
        (name, values[0] if len(values) == 1 else values) for name, values in data.lists()
    )


class PlainFormParser(FormParser):
    """application/x-www-form-urlencoded, validated as plain values (see `plain_values`)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return plain_values(super().parse(stream, media_type, parser_context))


class PlainMultiPartParser(MultiPartParser):
    """multipart/form-data, its fields validated as plain values (see `plain_values`)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        return DataAndFiles(plain_values(parsed.data), parsed.files)
