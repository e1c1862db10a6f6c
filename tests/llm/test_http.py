"""The event loop's HTTP client (`llm.providers.http`): the same request as the SDK's blocking path
(endpoint, auth and version headers, body), and each kind of failure classified as the gateway
expects."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import async_to_sync
from pydantic import BaseModel, Field

from llm import aio
from llm.gateway import (
    LLMConfig,
    ProviderError,
    acomplete_structured,
    acomplete_text,
    complete_structured,
    complete_text,
)
from llm.models import LLMCall
from llm.providers.base import PermanentProviderError, TransientProviderError
from llm.providers.http import AsyncJsonClient, EncodedJSON, encode_body
from tests.llm.conftest import FAST_RETRY
from tests.llm.fake_llm_server import FakeLLMServer, error, redirect, reply

pytestmark = pytest.mark.django_db

# Headers about the transport and the SDK's own retry bookkeeping rather than the request.
_PATH_HEADERS = {
    "accept-encoding",
    "connection",
    "content-length",
    "host",
    "user-agent",
    "x-stainless-async",
    "x-stainless-read-timeout",
    "x-stainless-retry-count",
    "x-stainless-timeout",
}


def _config(fake_llm, provider: str) -> LLMConfig:
    base = fake_llm.anthropic_base_url if provider == "anthropic" else fake_llm.openai_base_url
    return LLMConfig(provider=provider, model="m-http", base_url=base, timeout_s=5, temperature=0.2)


def _atext(config: LLMConfig, content: str = "hi"):
    async def main():
        async with aio.session():
            return await acomplete_text(
                config=config, messages=[{"role": "user", "content": content}], retry=FAST_RETRY
            )

    return async_to_sync(main)()


def _text(config: LLMConfig, content: str = "hi"):
    """The blocking path: the SDK's own client."""
    return complete_text(
        config=config, messages=[{"role": "user", "content": content}], retry=FAST_RETRY
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_loop_sends_what_the_sdk_sends(fake_llm, provider):
    fake_llm.script(reply("one"), reply("two"))
    config = _config(fake_llm, provider)

    # Uncached, so the same request on the loop goes to the server too.
    blocking = complete_text(
        config=config, messages=[{"role": "user", "content": "same"}], use_cache=False
    )
    looped = _atext(config, "same")

    assert (blocking.text, looped.text) == ("one", "two")
    sdk, loop = fake_llm.requests
    assert loop.path == sdk.path
    assert loop.body == sdk.body
    strip = {k: v for k, v in sdk.headers.items() if k not in _PATH_HEADERS}
    assert {k: v for k, v in loop.headers.items() if k not in _PATH_HEADERS} == strip
    assert loop.headers["content-type"] == "application/json"
    assert "authorization" in strip


class _Answer(BaseModel):
    answer: str = Field(description="yes or no — «either»")
    reasons: list[str]


@pytest.mark.parametrize(
    ("provider", "mode"),
    [("openai", "json_schema"), ("openai", "json_object"), ("anthropic", "tool")],
)
def test_a_structured_request_on_the_loop_sends_what_the_sdk_sends(fake_llm, provider, mode):
    # The loop encodes the schema's part of the body once per spec and reuses it.
    answer = '{"answer": "yes", "reasons": ["r"]}'
    fake_llm.script(*(reply(answer) for _ in range(3)))
    config = _config(fake_llm, provider).model_copy(update={"structured_mode": mode})
    messages = [{"role": "user", "content": "same — «question»"}]
    blocking = complete_structured(
        config=config, messages=messages, schema=_Answer, use_cache=False
    )

    async def main():
        async with aio.session():
            return [
                await acomplete_structured(
                    config=config, messages=messages, schema=_Answer, use_cache=False
                )
                for _ in range(2)
            ]

    looped = async_to_sync(main)()

    assert blocking.value.answer == looped[0].value.answer == looped[1].value.answer == "yes"
    sdk, first, second = fake_llm.requests
    assert first.body == sdk.body and second.body == sdk.body
    assert ("response_format" if provider == "openai" else "tools") in sdk.body


def test_encoded_parts_of_a_body_are_spliced_in_as_they_are():
    body = {"model": "m", "n": 1, "format": EncodedJSON('{"a": [1, "é"]}')}
    assert json.loads(encode_body(body)) == {"model": "m", "n": 1, "format": {"a": [1, "é"]}}
    assert json.loads(encode_body({"only": EncodedJSON("[]")})) == {"only": []}
    assert json.loads(encode_body({"plain": "ü"})) == {"plain": "ü"}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_refusal_is_final_and_carries_the_providers_message(fake_llm, provider):
    fake_llm.script(error(400, message="model m-http does not exist"))

    with pytest.raises(ProviderError) as failed:
        _atext(_config(fake_llm, provider))

    assert "HTTP 400: model m-http does not exist" in str(failed.value)
    assert failed.value.http_status == 400 and not failed.value.retryable
    assert len(fake_llm.requests) == 1  # not tried again
    assert list(LLMCall.objects.values_list("status", "http_status")) == [("http_error", 400)]


def test_a_connection_refused_is_worth_another_try():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AsyncJsonClient(base_url=f"http://127.0.0.1:{port}/v1", headers={}, timeout_s=2)

    async def main():
        try:
            await client.post("chat/completions", {"model": "m"})
        finally:
            await client.close()

    with pytest.raises(TransientProviderError) as failed:
        async_to_sync(main)()

    assert failed.value.status == "http_error" and failed.value.http_status is None
    assert str(failed.value).startswith("Connection failed: ")


class _PlainText(BaseHTTPRequestHandler):
    """A server behind a misconfigured proxy: 200 with an HTML page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        page = b"<html>gateway</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args) -> None:
        pass


def test_a_reply_that_is_not_a_json_object_is_unreadable_and_final():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PlainText)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = AsyncJsonClient(
        base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", headers={}, timeout_s=2
    )

    async def main():
        try:
            return await client.post("chat/completions", {})
        finally:
            await client.close()

    try:
        with pytest.raises(PermanentProviderError) as failed:
            async_to_sync(main)()
    finally:
        server.shutdown()
        server.server_close()

    assert failed.value.http_status == 200
    assert "Unreadable response: not a JSON object (b'<html>gateway</html>')" in str(failed.value)


def test_retry_after_is_read_from_the_reply(fake_llm):
    fake_llm.script(error(429, retry_after=0.3), reply("after the wait"))

    result = _atext(_config(fake_llm, "openai"))

    assert result.text == "after the wait"
    gaps = fake_llm.requests[1].received_at - fake_llm.requests[0].received_at
    assert gaps >= 0.3


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("transport", ["loop", "blocking"])
@pytest.mark.parametrize("status", [307, 302])
def test_a_redirect_is_refused_not_followed(fake_llm, provider, transport, status):
    """An allowed host answering 3xx could send the server past the allow-list (llm.outbound) to
    an internal address; the redirect is a final error naming where it pointed."""
    with FakeLLMServer() as internal:  # stands for an internal service the host points at
        base = internal.anthropic_base_url if provider == "anthropic" else internal.openai_base_url
        target = base + ("/v1/messages" if provider == "anthropic" else "/chat/completions")
        fake_llm.script(redirect(target, status=status))
        send = _atext if transport == "loop" else _text

        with pytest.raises(ProviderError) as failed:
            send(_config(fake_llm, provider))

        assert internal.requests == []
    message = str(failed.value)
    assert f"HTTP {status}" in message and target in message and "not followed" in message
    assert failed.value.http_status == status and not failed.value.retryable
    assert len(fake_llm.requests) == 1
    assert list(LLMCall.objects.values_list("status", "http_status")) == [("http_error", status)]
