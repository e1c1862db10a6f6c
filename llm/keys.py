"""API keys come from the environment or a secret file, only at call time, never from the database;
a run names at most an alias the operator declared (`llm.outbound`)."""

from __future__ import annotations

import os
from pathlib import Path

from llm.errors import MissingAPIKeyError
from llm.outbound import key_env_for
from llm.types import LLMConfig, Provider

KEY_ENV = {
    Provider.OPENAI: "OPENAI_API_KEY",
    Provider.ANTHROPIC: "ANTHROPIC_API_KEY",
    Provider.COMPATIBLE: "LLM_API_KEY",
}
# Local servers (vLLM, Ollama, llama.cpp) usually accept any key; the SDK insists on one.
COMPATIBLE_PLACEHOLDER_KEY = "EMPTY"


def api_key_for(config: LLMConfig) -> str:
    name = key_env_for(config.key, KEY_ENV[config.provider])
    value = os.environ.get(name, "").strip()
    if not value and os.environ.get(f"{name}_FILE"):
        path = Path(os.environ[f"{name}_FILE"])
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise MissingAPIKeyError(
                f"{name}_FILE points to {path}, which cannot be read ({exc.strerror})."
            ) from exc
    if value:
        return value
    if config.provider == Provider.COMPATIBLE:
        return COMPATIBLE_PLACEHOLDER_KEY
    raise MissingAPIKeyError(
        f"No API key for {config.provider}: set {name} (or {name}_FILE to a file holding it)."
    )
