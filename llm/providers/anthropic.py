"""Anthropic Messages API through the official SDK (on an event loop, its endpoint and headers
posted through aiohttp: `llm.providers.http`).

Structured output uses forced tool use by default: one tool named `respond` whose `input_schema` is
the answer's JSON Schema, and `tool_choice` naming it, so the reply is a `tool_use` block whose
`input` is the JSON object. (Prefilling the assistant turn with `{` is rejected with a 400 by current
Claude models.) The `prompt` mode asks for JSON in the instructions and reads the text blocks.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llm.providers.base import (
    ClientPool,
    PermanentProviderError,
    ProviderReply,
    StructuredSpec,
    TransientProviderError,
    merge_roles,
)
from llm.providers.http import AsyncJsonClient, EncodedJSON, status_error
from llm.types import LLMConfig, Message

# The SDK is imported where a client is made or its errors are read, not with this module: it is
# about a second of every process's start (the admin imports this module through the selectors),
# and most processes (a `manage.py` command, a web process, an offline worker) never call a model.
if TYPE_CHECKING:
    import anthropic

TOOL_NAME = "respond"
MESSAGES_PATH = "/v1/messages"


def _client(*, base_url: str | None, api_key: str, timeout_s: float) -> anthropic.Anthropic:
    import anthropic

    # max_retries=0: the gateway owns the retry policy (and logs every try). No redirects: the
    # SDK's HTTP client follows them by default, past the allow-list (`llm.providers.http`).
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url or None,
        timeout=timeout_s,
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(follow_redirects=False),
    )


_POOL = ClientPool(_client)


def async_client(*, base_url: str | None, api_key: str, timeout_s: float) -> AsyncJsonClient:
    """The event loop's client: the pooled SDK client's endpoint and headers, posted through
    aiohttp (see `llm.providers.openai.async_client`)."""
    sdk = _POOL.get(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
    return AsyncJsonClient.from_sdk(sdk, timeout_s=timeout_s)


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
        # The Messages API has no seed; it still keys the cache (see gateway).
        if config.temperature is not None:
            kwargs["temperature"] = config.temperature
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
        body = self.request_kwargs(config=config, messages=messages, spec=spec, seed=seed)
        import anthropic

        try:
            # The SDK's low-level post of the body `messages.create` sends, its reply as the plain
            # JSON object the event loop's path reads too.
            resp = client.post(MESSAGES_PATH, body=body, cast_to=dict[str, Any])
        except anthropic.AnthropicError as exc:
            raise _classified(exc, config) from exc
        return _reply(resp)

    async def asend(
        self,
        *,
        client: AsyncJsonClient,
        config: LLMConfig,
        messages: list[Message],
        spec: StructuredSpec | None,
        seed: int | None,
    ) -> ProviderReply:
        """`send` on an event loop: the same body to the same endpoint, through the loop's
        client."""
        body = self.request_kwargs(config=config, messages=messages, spec=spec, seed=seed)
        if spec is not None and "tools" in body:  # built from the spec alone
            body["tools"] = EncodedJSON(spec.encoded("anthropic.tools", body["tools"]))
        return _reply(await client.post(MESSAGES_PATH, body))


def _classified(
    exc: anthropic.AnthropicError, config: LLMConfig
) -> TransientProviderError | PermanentProviderError:
    """The gateway's view of an SDK error: worth retrying or not."""
    import anthropic

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
        return status_error(exc.status_code, exc.api_message or exc.message, exc.response.headers)
    return PermanentProviderError(f"Unreadable response: {exc}", http_status=None)


def _reply(resp: Any) -> ProviderReply:
    """The answer in a Messages API reply (a JSON object): the forced tool's input as JSON, or
    the text blocks."""
    try:
        blocks = [b for b in resp.get("content") or [] if isinstance(b, dict)]
        tool = next(
            (b for b in blocks if b.get("type") == "tool_use" and b.get("name") == TOOL_NAME),
            None,
        )
        if tool is not None:
            text = json.dumps(tool.get("input"), ensure_ascii=False)
        else:
            text = "".join(b.get("text") or "" for b in blocks if b.get("type") == "text")
        usage = resp.get("usage") or {}
        return ProviderReply(
            text=text,
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            finish_reason=resp.get("stop_reason") or "",
            request_id=resp.get("id") or "",
        )
    except AttributeError as exc:  # not an object, or a field of the wrong shape
        raise PermanentProviderError(f"Unreadable response: {exc}", http_status=200) from exc
