"""Errors the domain raises when it refuses a request; free of DRF so number-crunching code
(generation, validation, the poll selector) can raise them without importing the web stack.

`config.api.exception_handler` turns them into the API's JSON error shape with `status_code`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class DomainError(Exception):
    """A request that the domain refuses, with a message a person can act on."""

    status_code: int = HTTPStatus.BAD_REQUEST.value
    code = "invalid"

    def __init__(
        self, message: str, *, code: str | None = None, fields: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class ConflictError(DomainError):
    status_code = HTTPStatus.CONFLICT.value
    code = "conflict"
