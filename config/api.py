"""API-wide conventions: one JSON error shape for every failure (the domain's own errors are in
`config.errors`).

Every error body is ``{"error": {"code": str, "message": str, "fields": {...}}}``: ``message`` says
what was wrong and how to fix it, ``fields`` maps input field names to their problems (may be empty).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError
from config.json_types import json_type_errors
from config.parsers import is_form_data, plain_values, too_large_message

logger = logging.getLogger(__name__)


class Pagination(LimitOffsetPagination):
    """``?limit=&offset=`` pages of PAGE_SIZE; a larger limit is cut to ``max_limit`` so one request
    cannot dump a whole table (3,900 areas, a million personas)."""

    max_limit = 200

    def _query_integer(self, request, name: str, minimum: int) -> int | None:
        """``name`` from the query string as an integer of at least ``minimum``, None when absent;
        anything else (text, a decimal, a repeated parameter, too small) is refused with a 400
        rather than silently replaced by the default page."""
        values = request.query_params.getlist(name)
        if not values:
            return None
        raw = values[-1]
        if len(values) > 1 or not raw.isascii() or not raw.isdigit() or int(raw) < minimum:
            raise exceptions.ValidationError(
                {
                    name: [
                        f"Give {name} once, as a whole number of at least {minimum} (got {raw!r})."
                    ]
                }
            )
        return int(raw)

    def get_limit(self, request) -> int | None:
        limit = self._query_integer(request, self.limit_query_param, 1)
        if limit is None:
            return self.default_limit
        return min(limit, self.max_limit) if self.max_limit else limit

    def get_offset(self, request) -> int:
        return self._query_integer(request, self.offset_query_param, 0) or 0

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        minimums = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            if parameter["name"] in minimums:
                parameter["schema"]["minimum"] = minimums[parameter["name"]]
        return parameters


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


def django_refusal(exc: Exception, request: HttpRequest) -> tuple[int, dict] | None:
    """Django's own refusal of a request (a Host it does not serve, a body or form past its
    limits, a malformed request) as the API's status and JSON error body; None for any other
    exception. Django answers these with an HTML page (its debug page under DEBUG)."""
    if isinstance(exc, RequestDataTooBig):
        # Raised only under a limit, which follows API_MAX_BODY_BYTES (settings.base).
        limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
        return 413, error_body("request_too_large", too_large_message(limit))
    if isinstance(exc, TooManyFieldsSent):
        return 400, error_body(
            "too_many_fields",
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} fields in "
            "its query string or form body, the server's limit (DATA_UPLOAD_MAX_NUMBER_FIELDS). "
            "Send fewer, or send the data as a JSON body (Content-Type: application/json), "
            "which has no such limit.",
        )
    if isinstance(exc, TooManyFilesSent):
        return 400, error_body(
            "too_many_files",
            f"The form sends more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files, the "
            "server's limit (DATA_UPLOAD_MAX_NUMBER_FILES). Send fewer files a request.",
        )
    if isinstance(exc, DisallowedHost):
        return 400, _disallowed_host_body(request)
    if isinstance(exc, SuspiciousOperation | BadRequest | MultiPartParserError):
        # Django keeps the detail of these out of its page too: it may name server paths.
        return 400, error_body(
            "bad_request",
            f"The request is malformed and was refused ({type(exc).__name__}); check its "
            "headers, query string and body.",
        )
    return None


def _disallowed_host_body(request: HttpRequest) -> dict:
    host = request.META.get("HTTP_HOST", "")[:100]
    return error_body(
        "invalid_host",
        f"The Host header ({host!r}) names no host this server answers to. Send the request to "
        "the server's own address (the hosts its operator lists in ALLOWED_HOSTS).",
    )


def host_refusal(request: HttpRequest) -> tuple[int, dict] | None:
    """The API's 400 for a request whose Host header is not in ALLOWED_HOSTS (logged as Django
    logs it); None for one that is."""
    try:
        request.get_host()
    except DisallowedHost as exc:
        log_refusal(exc, request)
        return 400, _disallowed_host_body(request)
    return None


def log_refusal(exc: Exception, request: HttpRequest) -> None:
    """Log a suspicious request where Django would have (``django.security.<name>``), for a
    refusal answered before Django's own handler sees it."""
    if isinstance(exc, SuspiciousOperation):
        logging.getLogger(f"django.security.{type(exc).__name__}").error(
            str(exc), exc_info=exc, extra={"status_code": 400, "request": request}
        )


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
    request = getattr(context.get("request"), "_request", None)  # Django's, under DRF's
    if request is not None and (refusal := django_refusal(exc, request)) is not None:
        log_refusal(exc, request)
        refusal_status, body = refusal
        return Response(body, status=refusal_status)
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


class Serializer(serializers.Serializer):
    """The project's serializer, which every API serializer derives from (or `ModelSerializer`):
    a JSON request body is held to the JSON types its fields document (`config.json_types`).
    ``{"name": 47291}`` or ``{"size": "5"}`` is refused with a 400 naming the field, the type it
    wants and the one it got, before any other validation; a form post or a query string is
    read as DRF reads it (its values are text). The outermost serializer checks every nested
    field, once."""

    strict_json_types = True

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if (
            self.parent is None
            and self.strict_json_types
            and isinstance(data, dict)
            and not is_form_data(data)
        ):
            errors = json_type_errors(self, data)
            if errors:
                raise exceptions.ValidationError(
                    {**errors, **self._other_field_errors(data, errors)}
                )
        return super().run_validation(data)

    def _other_field_errors(self, data: dict, type_errors: dict) -> dict:
        """The field errors of the fields whose JSON types fit, so one answer names everything
        wrong with the body, not the type errors first and the rest on the next try. The fields
        are validated one by one (`to_internal_value`, never `validate`, which expects every
        field); a refusal of a field already refused for its type is not repeated. This pass only
        adds to the answer: should it fail otherwise, the type errors are answered alone."""
        rest = {key: value for key, value in data.items() if key not in type_errors}
        try:
            self.to_internal_value(rest)
        except exceptions.ValidationError as exc:
            if isinstance(exc.detail, dict):
                return {k: v for k, v in exc.detail.items() if k not in type_errors}
        except Exception:  # advisory: the type errors are the answer
            logger.debug(
                "Other field errors not gathered for %s", type(self).__name__, exc_info=True
            )
        return {}


class ModelSerializer(Serializer, serializers.ModelSerializer):
    """The project's model serializer (see `Serializer`)."""


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


_RFC3339_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RFC3339_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


class _EmptyIsAValue:
    """An empty form value is refused, not read as "not given" or null (DRF's HTML form rule),
    even when the form reaches the field as a QueryDict (Django parsed it before DRF did)."""

    def get_value(self, dictionary: Any) -> Any:
        if hasattr(dictionary, "getlist") and dictionary.get(self.field_name) == "":  # type: ignore[attr-defined]
            return ""
        return super().get_value(dictionary)  # type: ignore[misc]


class DateField(_EmptyIsAValue, serializers.DateField):
    """A date exactly as the schema documents it (``format: date``, RFC 3339 ``YYYY-MM-DD``);
    Python's parser would also take ``20240105`` or ``2024-W01-5``, which the schema calls invalid."""

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str) or not _RFC3339_DATE.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


class DateTimeField(_EmptyIsAValue, serializers.DateTimeField):
    """A date-time exactly as the schema documents it (``format: date-time``, RFC 3339 with its
    offset, e.g. ``2024-01-05T09:30:00Z``)."""

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str) or not _RFC3339_DATE_TIME.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DDThh:mm:ss with an offset (Z or +hh:mm)")
        return super().to_internal_value(value)


class QuerySerializer(Serializer):
    """Validates query parameters (``Serializer(data=request.query_params)``) as plain values, so
    a parameter given empty (``?since=``) is refused like any other invalid value, as the schema
    says, rather than silently ignored as an empty HTML form field would be. Query parameters
    are text by nature: not held to JSON types, even when given as a dict."""

    strict_json_types = False

    def __init__(self, instance=None, data=serializers.empty, **kwargs):
        super().__init__(instance, plain_values(data), **kwargs)
