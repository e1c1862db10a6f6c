"""Anthropic Messages API through the official SDK.

Structured output uses forced tool use by default: one tool named `respond` whose `input_schema` is
the answer's JSON Schema, and `tool_choice` naming it, so the reply is a `tool_use` block whose
`input` is the JSON object. (Prefilling the assistant turn with `{` is rejected with a 400 by current
Claude models.) The `prompt` mode asks for JSON in the instructions and reads the text blocks.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic

from llm.providers.base import (
    RETRYABLE_STATUSES,
    ClientPool,
    PermanentProviderError,
    ProviderReply,
    StructuredSpec,
    TransientProviderError,
    merge_roles,
    retry_after_seconds,
)
from llm.types import LLMConfig, Message

TOOL_NAME = "respond"


def _client(*, base_url: str | None, api_key: str, timeout_s: float) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=api_key, base_url=base_url or None, timeout=timeout_s, max_retries=0
    )


def async_client(
    *, base_url: str | None, api_key: str, timeout_s: float
) -> anthropic.AsyncAnthropic:
    """The asyncio client (one per event loop: its connections belong to the loop), on the SDK's
    aiohttp transport (see `llm.providers.openai.async_client`)."""
    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=base_url or None,
        timeout=timeout_s,
        max_retries=0,
        http_client=anthropic.DefaultAioHttpClient(timeout=timeout_s),
    )


_POOL = ClientPool(_client)


class AnthropicMessagesAdapter:
    async_client = staticmethod(async_client)

    def request_kwargs(
        self,
        *,
        config: LLMConfig,
        messages: list[Message],
        spec: StructuredSpec | None,
        seed: int | None,
    ) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = merge_roles([m for m in messages if m["role"] != "system"])
        kwargs: dict[str, Any] = {
            "model": config.model,
            "max_tokens": config.max_tokens,
            "messages": turns,
        }
        if system:
            kwargs["system"] = system
        # The Messages API has no seed; it still keys the cache (see gateway). The SDK no longer
        # declares `temperature`, which the API accepts for the models that support it.
        if config.temperature is not None:
            kwargs["extra_body"] = {"temperature": config.temperature}
        if spec is not None and config.effective_mode == "tool":
            kwargs["tools"] = [
                {
                    "name": TOOL_NAME,
                    "description": f"Give the answer as a {spec.name} object.",
                    "input_schema": spec.json_schema,
                }
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return kwargs

    def send(
        self,
        *,
        config: LLMConfig,
        api_key: str,
        messages: list[Message],
        spec: StructuredSpec | None,
        seed: int | None,
    ) -> ProviderReply:
        client = _POOL.get(base_url=config.base_url, api_key=api_key, timeout_s=config.timeout_s)
        kwargs = self.request_kwargs(config=config, messages=messages, spec=spec, seed=seed)
        try:
            resp = client.messages.create(**kwargs)
        except anthropic.AnthropicError as exc:
            raise _classified(exc, config) from exc
        return _reply(resp)

    async def asend(
        self,
        *,
        client: anthropic.AsyncAnthropic,
        config: LLMConfig,
        messages: list[Message],
        spec: StructuredSpec | None,
        seed: int | None,
    ) -> ProviderReply:
        """`send` on an event loop, through the caller's `AsyncAnthropic` client."""
        kwargs = self.request_kwargs(config=config, messages=messages, spec=spec, seed=seed)
        try:
            resp = await client.messages.create(**kwargs)
        except anthropic.AnthropicError as exc:
            raise _classified(exc, config) from exc
        return _reply(resp)


def _classified(
    exc: anthropic.AnthropicError, config: LLMConfig
) -> TransientProviderError | PermanentProviderError:
    """The gateway's view of an SDK error: worth retrying or not."""
    if isinstance(exc, anthropic.APITimeoutError):
        return TransientProviderError(
            f"No answer within {config.timeout_s:g} s.",
            status="timeout",
            http_status=None,
            retry_after=None,
        )
    if isinstance(exc, anthropic.APIConnectionError):
        return TransientProviderError(
            f"Connection failed: {exc}", status="http_error", http_status=None, retry_after=None
        )
    if isinstance(exc, anthropic.APIStatusError):
        message = f"HTTP {exc.status_code}: {exc.api_message or exc.message}"
        if exc.status_code in RETRYABLE_STATUSES:
            return TransientProviderError(
                message,
                status="http_error",
                http_status=exc.status_code,
                retry_after=retry_after_seconds(exc.response.headers),
            )
        return PermanentProviderError(message, http_status=exc.status_code)
    return PermanentProviderError(f"Unreadable response: {exc}", http_status=None)


def _reply(resp: Any) -> ProviderReply:
    text = ""
    for block in resp.content:
        if block.type == "tool_use" and block.name == TOOL_NAME:
            text = json.dumps(block.input, ensure_ascii=False)
            break
    else:
        text = "".join(block.text for block in resp.content if block.type == "text")
    usage = resp.usage
    return ProviderReply(
        text=text,
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        finish_reason=resp.stop_reason or "",
        request_id=resp.id or "",
    )
