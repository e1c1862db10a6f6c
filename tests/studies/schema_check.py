"""Checks a live API response against its component of the generated OpenAPI schema, strictly:
every field must be documented (no undocumented keys), with its documented type and nullability,
so the docs show the real shape."""

from __future__ import annotations

import copy
import functools

import jsonschema
from drf_spectacular.generators import SchemaGenerator


def _strict(node):
    """OpenAPI 3.0 to JSON Schema: `nullable` as a null type, and objects closed to keys their
    properties do not name."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _strict(v) for k, v in node.items()}
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def _components() -> dict:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return _strict(copy.deepcopy(schema["components"]["schemas"]))


def assert_matches_schema(payload: dict, component: str) -> None:
    """Fails naming each field that the schema does not describe as the response has it."""
    root = {"$ref": f"#/components/schemas/{component}", "components": {"schemas": _components()}}
    errors = [
        f"{e.json_path}: {e.message}"
        for e in jsonschema.Draft202012Validator(root).iter_errors(payload)
    ]
    assert not errors, "\n".join(errors)
