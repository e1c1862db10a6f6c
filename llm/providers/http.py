"""The event loop's HTTP client for the providers' JSON APIs: aiohttp, sent as the vendor SDK
would send it.

The SDKs' asyncio clients cost 1.2 ms of CPU a call against the local OpenAI-compatible server
at 50 in flight (request options, an httpx request and response wrapped around aiohttp's, URL and
header merging), where posting the same bytes through one aiohttp session costs 0.4 ms (measured
on this machine, 4,000 calls each way, interleaved). At hundreds of calls in flight on one core
that difference is most of the engine's CPU per call, so the asyncio path posts the JSON itself.
What to send stays the SDK's business: `AsyncJsonClient.from_sdk` takes the base URL and the
headers (auth, API version, organisation and project from the environment, user agent) from an
SDK client built with the same key, base URL and timeout, so both paths reach the same endpoint
the same way. Failures are classified as the gateway expects (`status_error`): 408, 409, 429
and 5xx are worth another try, with the server's Retry-After; timeouts and dropped connections too;
any other status is final. A redirect is never followed (both paths): an allowed host could send
the server past the allow-list (`llm.outbound`) to an internal address, so a 3xx is a final error
naming where it pointed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from llm.providers.base import (
    RETRYABLE_STATUSES,
    PermanentProviderError,
    TransientProviderError,
    retry_after_seconds,
)

# As the SDKs' own aiohttp transport: the engine's concurrency, not the pool, bounds the calls
# in flight.
MAX_CONNECTIONS = 1000


class EncodedJSON(str):
    """A value of a request's body given as JSON text, put into the body as it is (a part that is
    the same for many requests, encoded once). Only as a top-level value of the body."""


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The body as UTF-8 JSON, its `EncodedJSON` values spliced in as they are."""
    plain = {k: v for k, v in body.items() if not isinstance(v, EncodedJSON)}
    text = json.dumps(plain, ensure_ascii=False)
    encoded = [
        f"{json.dumps(k, ensure_ascii=False)}:{v}" for k, v in body.items() if k not in plain
    ]
    if encoded:
        text = text[:-1] + ("," if plain else "") + ",".join(encoded) + "}"
    return text.encode("utf-8")


class AsyncJsonClient:
    """POSTs JSON to one provider endpoint from one event loop (its connections belong to it)."""

    def __init__(self, *, base_url: str, headers: Mapping[str, str], timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._headers = {**headers, "Content-Type": "application/json"}
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_sdk(cls, sdk_client: Any, *, timeout_s: float) -> AsyncJsonClient:
        """The endpoint and headers an (OpenAI or Anthropic) SDK client would use; the SDK's
        "omit" markers (an organisation header with none set) are left out."""
        headers = {**sdk_client.default_headers, **sdk_client.auth_headers}
        return cls(
            base_url=str(sdk_client.base_url),
            headers={k: v for k, v in headers.items() if isinstance(v, str)},
            timeout_s=timeout_s,
        )

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop that will own it.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            headers=self._headers,
        )
        return self._session

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The decoded JSON object of a 2xx reply; `TransientProviderError` or
        `PermanentProviderError` otherwise."""
        session = self._session or self._open()
        data = encode_body(body)
        try:
            async with session.post(
                self.base_url + path.lstrip("/"), data=data, allow_redirects=False
            ) as resp:
                raw = await resp.read()
                status, headers = resp.status, resp.headers
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError from Python 3.11 on
            raise TransientProviderError(
                f"No answer within {self._timeout_s:g} s.",
                status="timeout",
                http_status=None,
                retry_after=None,
            ) from None
        except aiohttp.ClientError as exc:
            raise TransientProviderError(
                f"Connection failed: {exc or type(exc).__name__}",
                status="http_error",
                http_status=None,
                retry_after=None,
            ) from exc
        if status >= 300:
            raise status_error(status, _error_message(raw), headers)
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise PermanentProviderError(
                f"Unreadable response: not a JSON object ({raw[:200]!r})", http_status=status
            )
        return payload

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def status_error(
    status: int, message: str, headers: Mapping[str, str]
) -> TransientProviderError | PermanentProviderError:
    """A provider's refusal as the gateway sees it: worth retrying (with the server's wait) or
    not."""
    text = f"HTTP {status}: {message}"
    if 300 <= status < 400:
        return PermanentProviderError(
            f"HTTP {status}: the provider redirected to {headers.get('Location') or '(no Location)'}"
            "; redirects are not followed (an allowed host could send the server to an internal "
            "address). Set base_url to the address that answers.",
            http_status=status,
        )
    if status in RETRYABLE_STATUSES:
        return TransientProviderError(
            text, status="http_error", http_status=status, retry_after=retry_after_seconds(headers)
        )
    return PermanentProviderError(text, http_status=status)


def _error_message(raw: bytes) -> str:
    """The error's message as both APIs shape it (`{"error": {"message": …}}`), else the body."""
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(payload.get("message"), str):
            return payload["message"]
    return raw[:500].decode("utf-8", "replace") or "(empty body)"
