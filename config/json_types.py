"""Strict JSON types for request bodies: a value of the wrong JSON type is refused, not coerced.

DRF reads a JSON body as it reads a form, whose values are all text: ``{"name": 47291}`` is
stored as the text "47291", ``{"size": "5"}`` as 5, ``{"flag": "yes"}`` as true. The schema
documents one JSON type per field, and a client that sends another has a bug it should hear
about. `json_type_errors` walks a serializer's writable fields (nested serializers, lists and
dicts of fields included) against a JSON body and names each value whose type does not fit, in
DRF's error shape; `config.api.Serializer` raises them before any other validation.

A form post or a query string is not checked: its values are text by nature (see
`config.parsers.FormData`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db import models
from rest_framework import fields, relations, serializers

# What a field kind wants, as the schema names it.
STRING, INTEGER, NUMBER, BOOLEAN = "a string", "an integer", "a number", "a boolean"
ARRAY, OBJECT = "an array", "an object"

_TEXT_FIELDS = (
    fields.CharField,
    fields.DateField,
    fields.DateTimeField,
    fields.TimeField,
    fields.DurationField,
    fields.UUIDField,
    relations.SlugRelatedField,
    relations.HyperlinkedRelatedField,
)


def _described(value: Any) -> str:
    """The JSON type of a parsed value, with the value itself when it is short to show."""
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int | float):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, Mapping):
        return "an object"
    elif isinstance(value, list):
        return "an array"
    else:
        return type(value).__name__
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 40:
        shown = shown[:37] + "…"
    return f"{kind} ({shown})"


def _refusal(wanted: str, value: Any) -> list[str]:
    if wanted == INTEGER and isinstance(value, float) and not isinstance(value, bool):
        return [f"Expected {wanted}, got a number with a fraction ({value!r})."]
    return [f"Expected {wanted}, got {_described(value)}."]


def _is_integer(value: Any) -> bool:
    """A JSON integer: 3, or 3.0 (JSON Schema counts a number with no fraction as an integer)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _primary_key_kind(field: relations.PrimaryKeyRelatedField) -> str | None:
    if field.pk_field is not None:
        return scalar_kind(field.pk_field)
    queryset = getattr(field, "queryset", None)  # (the stubs type it as a manager descriptor)
    if queryset is None:  # a read-only relation: never given
        return None
    # AutoField and BigAutoField are integer fields too.
    return INTEGER if isinstance(queryset.model._meta.pk, models.IntegerField) else STRING


def scalar_kind(field: fields.Field) -> str | None:
    """The JSON type a scalar field wants, or None when it takes any (JSONField, a file)."""
    if isinstance(field, fields.BooleanField):
        return BOOLEAN
    if isinstance(field, fields.IntegerField):
        return INTEGER
    if isinstance(field, fields.FloatField | fields.DecimalField):
        return NUMBER
    if isinstance(field, fields.ChoiceField):
        # Choices keyed by text are chosen by text; other keys (none in the project) are left
        # to the field itself.
        return STRING if all(isinstance(key, str) for key in field.choices) else None
    if isinstance(field, relations.PrimaryKeyRelatedField):
        return _primary_key_kind(field)
    if isinstance(field, _TEXT_FIELDS):
        return STRING
    return None


_FITS = {
    STRING: lambda value: isinstance(value, str),
    INTEGER: _is_integer,
    NUMBER: _is_number,
    BOOLEAN: lambda value: isinstance(value, bool),
}


def _serializer_errors(serializer: serializers.Serializer, value: Any) -> Any:
    if not isinstance(value, Mapping):
        return _refusal(OBJECT, value)
    errors = {}
    for name, field in serializer.fields.items():
        if field.read_only or name not in value:
            continue
        error = json_type_errors(field, value[name])
        if error:
            errors[name] = error
    return errors or None


def _items_errors(child: fields.Field | None, value: Any, *, one_per_item: bool) -> Any:
    """A list's items against its child: a list with one entry per item (as a list of nested
    serializers reports its errors) or a dict of the wrong items by position (as a ListField
    does)."""
    if not isinstance(value, list):
        return _refusal(ARRAY, value)
    if child is None:
        return None
    errors = [json_type_errors(child, item) for item in value]
    if not any(errors):
        return None
    if one_per_item:
        return [e or {} for e in errors]
    return {position: e for position, e in enumerate(errors) if e}


def json_type_errors(field: fields.Field, value: Any) -> Any:
    """What is wrong with the JSON types of `value` given to `field`, in DRF's error shape (a
    list of messages, or a dict/list of them for a nested value); None when every type fits.
    Null is left to the field (its allow_null), a fitting type to its own validation."""
    if value is None:
        return None
    if isinstance(field, serializers.ListSerializer):
        return _items_errors(field.child, value, one_per_item=True)
    if isinstance(field, serializers.Serializer):
        return _serializer_errors(field, value)
    if isinstance(field, relations.ManyRelatedField):
        return _items_errors(field.child_relation, value, one_per_item=False)
    if isinstance(field, fields.ListField):
        return _items_errors(field.child, value, one_per_item=False)
    if isinstance(field, fields.MultipleChoiceField):
        child = fields.ChoiceField(choices=field.choices)
        return _items_errors(child, value, one_per_item=False)
    if isinstance(field, fields.DictField | fields.HStoreField):
        if not isinstance(value, Mapping):
            return _refusal(OBJECT, value)
        child_errors = {key: json_type_errors(field.child, item) for key, item in value.items()}
        return {key: e for key, e in child_errors.items() if e} or None
    wanted = scalar_kind(field)
    if wanted is None or _FITS[wanted](value):
        return None
    return _refusal(wanted, value)
