"""What every provider adapter does: send one request, return text and usage, or classify failure."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from llm.types import LLMConfig, Message

# Transient HTTP statuses: rate limited, request timeout, conflict (OpenAI's "try again"),
# server errors and Anthropic's 529 "overloaded".
RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class StructuredSpec:
    """The pydantic schema of the expected answer, as JSON Schema, for the modes that send it."""

    name: str
    json_schema: dict[str, Any]

    def encoded(self, part: str, value: Any) -> str:
        """`value`, a part of a request built from this spec alone (named `part`, e.g. the
        response format in one mode), as JSON text: encoded the first time, then reused. A spec
        serves every call of its step, and encoding the nested schema was most of encoding a
        request's body."""
        kept = self.__dict__.setdefault("_encoded", {})  # frozen: not through __setattr__
        text = kept.get(part)
        if text is None:
            text = kept[part] = json.dumps(value, ensure_ascii=False)
        return text


@dataclass(frozen=True)
class ProviderReply:
    text: str
    input_tokens: int | None  # None when the server reports no usage (cost is then unknown)
    output_tokens: int | None
    finish_reason: str = ""
    request_id: str = ""


class TransientProviderError(Exception):
    """Worth retrying after a wait: 429, 5xx, timeouts and dropped connections."""

    def __init__(
        self, message: str, *, status: str, http_status: int | None, retry_after: float | None
    ):
        super().__init__(message)
        self.status = status  # "http_error" or "timeout" (LLMCall.Status values)
        self.http_status = http_status
        self.retry_after = retry_after


class PermanentProviderError(Exception):
    """Retrying the same request cannot help: bad request, wrong key, unknown model."""

    def __init__(self, message: str, *, http_status: int | None):
        super().__init__(message)
        self.http_status = http_status


class ProviderAdapter(Protocol):
    def send(
        self,
        *,
        config: LLMConfig,
        api_key: str,
        messages: list[Message],
        spec: StructuredSpec | None,
        seed: int | None,
    ) -> ProviderReply: ...

    async def asend(
        self,
        *,
        client: Any,
        config: LLMConfig,
        messages: list[Message],
        spec: StructuredSpec | None,
        seed: int | None,
    ) -> ProviderReply: ...

    def async_client(self, *, base_url: str | None, api_key: str, timeout_s: float) -> Any:
        """A new client for an event loop (`llm.providers.http.AsyncJsonClient`; the caller owns
        it, and closes it with its loop)."""
        ...


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """`retry-after-ms`, or `Retry-After` as seconds or as an HTTP date; None when absent/garbled."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ClientPool:
    """One SDK client per (base URL, key, timeout): their HTTP connection pools are thread-safe and
    expensive to build, so the workers of a process share them."""

    def __init__(self, factory: Callable[..., Any]):
        self._factory = factory
        self._clients: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, *, base_url: str | None, api_key: str, timeout_s: float) -> Any:
        key = (base_url, api_key, timeout_s)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._factory(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
                self._clients[key] = client
            return client


def merge_roles(messages: list[Message]) -> list[Message]:
    """Join consecutive messages of one role (Anthropic requires strict user/assistant turns)."""
    merged: list[Message] = []
    for m in messages:
        if merged and merged[-1]["role"] == m["role"]:
            merged[-1] = {
                "role": m["role"],
                "content": merged[-1]["content"] + "\n\n" + m["content"],
            }
        else:
            merged.append({"role": m["role"], "content": m["content"]})
    return merged
