"""Structured output's side of a request and of its reply: the JSON Schema of the pydantic model is
put in the system instructions and, where the provider supports it, in the request (OpenAI
`response_format`, Anthropic forced tool use; see `llm.types.StructuredMode`). The reply is
validated with pydantic, and what is wrong with an invalid one is worded for the model to correct.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from llm.providers.base import StructuredSpec
from llm.types import Message

T = TypeVar("T", bound=BaseModel)


@functools.lru_cache(maxsize=512)
def schema_parts(schema: type[BaseModel]) -> tuple[StructuredSpec, str]:
    """The JSON Schema of a pydantic model and the instruction quoting it, built once per model:
    generating the schema costs milliseconds, which many threads paid on every call."""
    spec = StructuredSpec(name=schema.__name__, json_schema=schema.model_json_schema())
    instruction = (
        "Reply with only a JSON object (no prose, no code fences) that conforms to this JSON "
        f"Schema:\n{json.dumps(spec.json_schema, sort_keys=True)}"
    )
    return spec, instruction


def with_schema_instructions(messages: list[Message], instruction: str) -> list[Message]:
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": messages[0]["content"] + "\n\n" + instruction}
        return [first, *messages[1:]]  # type: ignore[list-item]
    return [{"role": "system", "content": instruction}, *messages]


def feedback(error: str) -> str:
    return (
        f"Your previous reply could not be used: {error}\n"
        "Reply again with only the corrected JSON object, conforming to the schema."
    )


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse(text: str, schema: type[T]) -> tuple[T | None, str | None]:
    """The validated value, or None and a description of what is wrong, fit to show the model."""
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1)
    if not candidate:
        return None, "the reply was empty; a JSON object was expected."
    try:
        return schema.model_validate_json(candidate), None
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            if err["type"] == "json_invalid":
                return None, f"the reply is not valid JSON ({err['msg']})."
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{where}: {err['msg']}")
        return None, "the JSON does not match the schema — " + "; ".join(problems)
