"""The ASGI entry (`config.asgi.application`) as a server calls it: HTTP goes through Django's WSGI
handler on the bounded thread pool, WebSockets go to Channels."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import caches
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started

from accounts.models import Token
from config.asgi import application, cache_backends_per_thread
from tests.config.asgi_urls import STREAMED_ROWS

# Requests are answered on the pool's threads, each with its own database connection: what a test
# writes must be committed for them to see it.
pytestmark = pytest.mark.django_db(transaction=True)


def _request(
    method: str, path: str, *, headers: list[tuple[bytes, bytes]] = (), body_parts: list[bytes] = ()
) -> tuple[int, dict[bytes, bytes], list[dict[str, Any]]]:
    """Call the application as uvicorn would; returns (status, headers, the body messages)."""
    return asyncio.run(_call(method, path, headers=list(headers), body_parts=list(body_parts)))


async def _call(
    method: str, path: str, *, headers: list[tuple[bytes, bytes]], body_parts: list[bytes]
) -> tuple[int, dict[bytes, bytes], list[dict[str, Any]]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    incoming = [
        {"type": "http.request", "body": part, "more_body": n < len(body_parts) - 1}
        for n, part in enumerate(body_parts or [b""])
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(application(scope, receive, send), timeout=30)
    start = sent[0]
    assert start["type"] == "http.response.start"
    bodies = [m for m in sent[1:] if m["type"] == "http.response.body"]
    return start["status"], dict(start["headers"]), bodies


@pytest.fixture
def handled_by() -> list[tuple[type, str]]:
    """(the Django handler class, the thread's name) of each request started."""
    seen: list[tuple[type, str]] = []

    def record(sender: type, **kwargs: Any) -> None:
        seen.append((sender, threading.current_thread().name))

    request_started.connect(record, weak=False)
    yield seen
    request_started.disconnect(record)


def test_an_http_request_is_answered_by_djangos_wsgi_handler_on_the_pool(handled_by):
    status, headers, bodies = _request("GET", "/healthz/")
    assert status == 200
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(b"".join(m["body"] for m in bodies)) == {"status": "ok", "database": "ok"}
    assert bodies[-1].get("more_body", False) is False
    # Django's WSGI handler, not its ASGI one, on a thread of a2wsgi's pool ("WSGI_0", ...).
    [(handler, thread)] = handled_by
    assert handler is WSGIHandler
    assert thread.startswith("WSGI")


def test_concurrent_requests_share_at_most_web_threads_threads(handled_by, settings):
    async def many() -> list[tuple[int, dict, list]]:
        return await asyncio.gather(
            *(
                _call("GET", "/healthz/", headers=[], body_parts=[])
                for _ in range(4 * settings.WEB_THREADS)
            )
        )

    results = asyncio.run(many())
    assert [status for status, _, _ in results] == [200] * (4 * settings.WEB_THREADS)
    threads = {thread for _, thread in handled_by}
    assert all(t.startswith("WSGI") for t in threads)
    assert 1 <= len(threads) <= settings.WEB_THREADS


def test_each_pool_thread_keeps_one_cache_backend_across_requests(settings):
    """a2wsgi runs each request in a new copy of the loop's context; the cache backends (and so
    their Redis connection pools) are kept per thread, not built again for every request."""
    cache_backends_per_thread()  # again: a test that changed CACHES gave Django's handler back
    backends: list[Any] = []  # the objects themselves, so a freed one's id is not reused

    def record(sender: type, **kwargs: Any) -> None:
        backends.append(caches["default"])

    request_started.connect(record, weak=False)
    try:
        for _ in range(3 * settings.WEB_THREADS):
            assert _request("GET", "/healthz/")[0] == 200
    finally:
        request_started.disconnect(record)
    assert len(backends) == 3 * settings.WEB_THREADS
    assert len({id(b) for b in backends}) <= settings.WEB_THREADS


def test_a_request_body_sent_in_parts_reaches_the_view_whole(django_user_model):
    user = django_user_model.objects.create_user("poster", password="a-long-test-password")
    token = Token.objects.create(user=user).key
    body = json.dumps({"name": "laptop " + "x" * 40, "scope": "run"}).encode()
    status, _, bodies = _request(
        "POST",
        "/api/v1/keys/",
        headers=[
            (b"authorization", f"Token {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        body_parts=[body[:10], body[10:30], body[30:]],
    )
    created = json.loads(b"".join(m["body"] for m in bodies))
    assert status == 201, created
    assert created["name"] == "laptop " + "x" * 40
    assert created["key"].startswith("pl_")


def test_a_chunked_request_body_without_a_length_reaches_the_view_whole(django_user_model):
    # No Content-Length (chunked transfer encoding, as `requests` sends a generator): Django's
    # WSGI handler alone would read an empty body and answer "name: This field is required".
    user = django_user_model.objects.create_user("poster", password="a-long-test-password")
    token = Token.objects.create(user=user).key
    body = json.dumps({"name": "streamed", "scope": "run"}).encode()
    status, _, bodies = _request(
        "POST",
        "/api/v1/keys/",
        headers=[
            (b"authorization", f"Token {token}".encode()),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        body_parts=[body[:7], body[7:]],
    )
    created = json.loads(b"".join(m["body"] for m in bodies))
    assert status == 201, created
    assert created["name"] == "streamed"


def test_a_chunked_body_over_the_limit_is_refused_with_413(settings):
    settings.API_MAX_BODY_BYTES = 1000
    status, headers, bodies = _request(
        "POST",
        "/api/v1/keys/",
        headers=[(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        body_parts=[b"x" * 600, b"x" * 600, b"x" * 600],
    )
    assert status == 413
    assert headers[b"content-type"] == b"application/json"
    error = json.loads(b"".join(m["body"] for m in bodies))["error"]
    assert error["code"] == "request_too_large" and "1,000 bytes" in error["message"]


def test_a_bad_request_is_a_json_error_through_the_wsgi_path(django_user_model):
    user = django_user_model.objects.create_user("poster", password="a-long-test-password")
    token = Token.objects.create(user=user).key
    status, headers, bodies = _request(
        "POST",
        "/api/v1/keys/",
        headers=[
            (b"authorization", f"Token {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"9"),
        ],
        body_parts=[b'{"name": '],
    )
    assert status == 400
    assert headers[b"content-type"].startswith(b"application/json")
    assert "JSON" in json.loads(b"".join(m["body"] for m in bodies))["error"]["message"]


@pytest.mark.urls("tests.config.asgi_urls")
def test_a_streamed_export_leaves_in_several_body_messages():
    status, headers, bodies = _request("GET", "/test-streamed-export/")
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/csv")
    # The header, then each batch of rows as the WSGI thread produces it, then the end.
    assert len([m for m in bodies if m["body"]]) >= 3
    assert all(m.get("more_body") for m in bodies[:-1]) and not bodies[-1].get("more_body")
    lines = b"".join(m["body"] for m in bodies).decode().splitlines()
    assert lines[0] == "id,label" and len(lines) == STREAMED_ROWS + 1
    assert lines[-1] == f"{STREAMED_ROWS - 1},row {STREAMED_ROWS - 1}"


@pytest.mark.asyncio
async def test_a_websocket_goes_to_channels():
    # Channels' consumer refuses an anonymous socket with 4401; the WSGI side would have
    # closed it with a plain 1000.
    communicator = WebsocketCommunicator(
        application,
        "/ws/runs/1/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
    connected, code = await communicator.connect()
    assert connected is False
    assert code == 4401
    await communicator.wait()


def test_the_server_start_tunes_the_collector_and_a_plain_import_does_not():
    import gc
    import subprocess
    import sys

    from config import collector
    from config.collector import GC_THRESHOLD

    # Importing config.asgi changes nothing (in a fresh process: this one may have served a run
    # on a thread, which tunes it).
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, django; django.setup(); before = gc.get_threshold(); "
            "import config.asgi; assert gc.get_threshold() == before != "
            f"{GC_THRESHOLD!r}, gc.get_threshold(); assert gc.get_freeze_count() == 0",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    assert imported.returncode == 0, imported.stderr
    before, was_tuned = gc.get_threshold(), collector._tuned
    gc.set_threshold(700, 10, 10)
    collector._tuned = False

    async def lifespan() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return sent

    try:
        sent = asyncio.run(lifespan())
        assert sent == [
            {"type": "lifespan.startup.complete"},
            {"type": "lifespan.shutdown.complete"},
        ]
        assert gc.get_threshold() == GC_THRESHOLD
        assert gc.get_freeze_count() > 100_000  # the loaded application, out of the generations
        assert collector.tune_collector() is False  # once a process
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        collector._tuned = was_tuned
