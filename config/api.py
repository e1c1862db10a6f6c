"""API-wide conventions: one JSON error shape for every failure (the domain's own errors are in
`config.errors`).

Every error body is ``{"error": {"code": str, "message": str, "fields": {...}}}``: ``message`` says
what was wrong and how to fix it, ``fields`` maps input field names to their problems (may be empty).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError


class Pagination(LimitOffsetPagination):
    """``?limit=&offset=`` pages of PAGE_SIZE; a larger limit is cut to ``max_limit`` so one request
    cannot dump a whole table (3,900 areas, a million personas)."""

    max_limit = 200


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        flat = [_flatten(v) for v in detail]
        return flat
    return str(detail)


def _first_message(fields: Any, prefix: str = "") -> str:
    if isinstance(fields, dict):
        for key, value in fields.items():
            label = key if key != "non_field_errors" else ""
            path = f"{prefix}.{label}" if prefix and label else (label or prefix)
            return _first_message(value, path)
    if isinstance(fields, list) and fields:
        for value in fields:
            if value:
                return _first_message(value, prefix)
    return f"{prefix}: {fields}" if prefix else str(fields)


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response(
            error_body("invalid", _first_message(fields), fields),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        message = "Invalid input — " + _first_message(fields)
        response.data = error_body("invalid", message, fields)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body(
            "malformed_request",
            f"The request body could not be parsed: {exc.detail} Send valid JSON with "
            "Content-Type: application/json.",
        )
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = error_body(str(code), str(exc.detail))
    return response


class ChoiceField(serializers.ChoiceField):
    """DRF's ChoiceField whose refusal lists the valid choices, so a client can correct the
    value without reading the schema."""

    default_error_messages = {
        "invalid_choice": '"{input}" is not a valid choice; choose one of: {choices}.'
    }

    def to_internal_value(self, data: Any) -> Any:
        if data == "" and self.allow_blank:
            return ""
        try:
            return self.choice_strings_to_values[str(data)]
        except KeyError:
            self.fail(
                "invalid_choice", input=data, choices=", ".join(self.choice_strings_to_values)
            )
