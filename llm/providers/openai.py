"""OpenAI Chat Completions through the official SDK (on an event loop, its endpoint and headers
posted through aiohttp: `llm.providers.http`); the compatible provider reuses it by base URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm.providers.base import (
    ClientPool,
    PermanentProviderError,
    ProviderReply,
    StructuredSpec,
    TransientProviderError,
)
from llm.providers.http import AsyncJsonClient, EncodedJSON, status_error
from llm.types import LLMConfig, Message

# The SDK is imported where a client is made or its errors are read, not with this module: it is
# about a second of every process's start (the admin imports this module through the selectors),
# and most processes (a `manage.py` command, a web process, an offline worker) never call a model.
if TYPE_CHECKING:
    import openai


def _client(*, base_url: str | None, api_key: str, timeout_s: float) -> openai.OpenAI:
    import openai

    # max_retries=0: the gateway owns the retry policy (and logs every try). No redirects: the
    # SDK's HTTP client follows them by default, past the allow-list (`llm.providers.http`).
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url or None,
        timeout=timeout_s,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(follow_redirects=False),
    )


_POOL = ClientPool(_client)


def async_client(*, base_url: str | None, api_key: str, timeout_s: float) -> AsyncJsonClient:
    """The event loop's client (one per loop: its connections belong to it): the endpoint and
    headers of the pooled SDK client for the same key, base URL and timeout, posted through
    aiohttp (`llm.providers.http`)."""
    sdk = _POOL.get(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
    return AsyncJsonClient.from_sdk(sdk, timeout_s=timeout_s)


class OpenAIChatAdapter:
    async_client = staticmethod(async_client)

    # OpenAI's newer models refuse `max_tokens` and want `max_completion_tokens`; most compatible
    # servers only know `max_tokens` (the compatible subclass switches).
    max_tokens_field = "max_completion_tokens"

    def request_kwargs(
        self,
        *,
        config: LLMConfig,
        messages: list[Message],
        spec: StructuredSpec | None,
        seed: int | None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": config.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            self.max_tokens_field: config.max_tokens,
        }
        if config.temperature is not None:
            kwargs["temperature"] = config.temperature
        if seed is not None:
            kwargs["seed"] = seed
        mode = config.effective_mode
        if spec is not None and mode == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        elif spec is not None and mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": spec.name, "schema": spec.json_schema, "strict": False},
            }
        return kwargs

    # The SDK's documented low-level call with the same body, auth and error classes as
    # `chat.completions.create`, minus its per-call walk over the parameters (an identity for the
    # plain dicts built here) and the reply's model construction: together about 1.5 ms of CPU a
    # call.
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
        import openai

        try:
            resp = client.post(
                "/chat/completions",
                body=kwargs,
                cast_to=dict,
                options={"security": {"bearer_auth": True}},
            )
        except openai.OpenAIError as exc:
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
        kwargs = self.request_kwargs(config=config, messages=messages, spec=spec, seed=seed)
        if spec is not None and "response_format" in kwargs:  # built from the spec alone
            part = f"openai.response_format.{config.effective_mode}"
            kwargs["response_format"] = EncodedJSON(spec.encoded(part, kwargs["response_format"]))
        return _reply(await client.post("chat/completions", kwargs))


def _classified(
    exc: openai.OpenAIError, config: LLMConfig
) -> TransientProviderError | PermanentProviderError:
    """The gateway's view of an SDK error: worth retrying or not."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return TransientProviderError(
            f"No answer within {config.timeout_s:g} s.",
            status="timeout",
            http_status=None,
            retry_after=None,
        )
    if isinstance(exc, openai.APIConnectionError):
        return TransientProviderError(
            f"Connection failed: {exc}", status="http_error", http_status=None, retry_after=None
        )
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, exc.message, exc.response.headers)
    return PermanentProviderError(f"Unreadable response: {exc}", http_status=None)


def _reply(resp: Any) -> ProviderReply:
    if not isinstance(resp, dict):
        raise PermanentProviderError(
            f"Unreadable response: not a JSON object ({str(resp)[:200]!r})", http_status=200
        )
    choices = resp.get("choices") or []
    if not choices:
        raise PermanentProviderError("The response had no choices.", http_status=200)
    try:
        choice = choices[0]
        usage = resp.get("usage") or {}
        return ProviderReply(
            text=(choice.get("message") or {}).get("content") or "",
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason") or "",
            request_id=resp.get("id") or "",
        )
    except AttributeError as exc:  # a field of the wrong shape (e.g. a list for a message)
        raise PermanentProviderError(f"Unreadable response: {exc}", http_status=200) from exc
