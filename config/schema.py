"""OpenAPI postprocessing (drf-spectacular): every operation documents the errors it can give, in
the API's one JSON error shape (`config.api.error_body`).

Views document their success responses (and any error of their own, e.g. a 409) with
``extend_schema``; this hook adds the failures every API view shares, so no view has to repeat
them and a new view is documented without effort:

- 401 (no or bad credentials), 403 (not allowed: a key's scope, staff-only reference data) and
  429 (rate throttles, daily quotas) on every operation;
- 400 on an operation that reads query parameters or a body (validation, pagination);
- 404 on an operation with a path parameter (an unknown object, or another client's);
- 413 and 415 on an operation that reads a body (`API_MAX_BODY_BYTES`, JSON depth, media type).

A response a view documents itself is kept as it is, except that a 4xx it documents as a bare
object (`OpenApiTypes.OBJECT`) is given the error shape.
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API failure: `message` says what was wrong and how to fix it, "
    "`fields` maps input fields to their problems (may be empty).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {}},
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}

DESCRIPTIONS = {
    "400": "Invalid input: the message names the field and how to correct it.",
    "401": "No credentials, or unknown ones: send a session, a token or an API key.",
    "403": "Signed in, but not allowed (an API key's scope, or staff-only data).",
    "404": "No such object, or one that belongs to another client.",
    "413": "The request body is too large or nested too deeply.",
    "415": "The body's media type is not accepted: send application/json.",
    "429": "Too many requests, or the daily quota is used up: the message says when to retry.",
}

BARE_OBJECT = {"type": "object", "additionalProperties": {}}

METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def _codes_for(operation: dict[str, Any], path_parameters: list[dict[str, Any]]) -> list[str]:
    parameters = path_parameters + operation.get("parameters", [])
    has_body = "requestBody" in operation
    codes = ["401", "403", "429"]
    if has_body or any(p.get("in") == "query" for p in parameters):
        codes.append("400")
    if any(p.get("in") == "path" for p in parameters):
        codes.append("404")
    if has_body:
        codes += ["413", "415"]
    return sorted(codes)


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry (see the module docstring)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path_item in result.get("paths", {}).values():
        path_parameters = path_item.get("parameters", [])
        for method, operation in path_item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                # A view's own error (e.g. POPULATION_NOT_READY's 409) documented as a bare
                # object is the error shape too.
                body = response.get("content", {}).get("application/json", {})
                if str(code).startswith("4") and body.get("schema") == BARE_OBJECT:
                    body["schema"] = reference
            for code in _codes_for(operation, path_parameters):
                responses.setdefault(
                    code,
                    {
                        "description": DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
