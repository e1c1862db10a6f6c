"""ASGI entry point: HTTP through Django's WSGI handler on a bounded thread pool, WebSockets
through Channels, on one port.

Plain HTTP does not go through Django's ASGI handler: that handler runs every sync view through
`sync_to_async` with a thread and a context of its own per request, which cost about 3 ms of CPU a
request more than the WSGI handler for the same view (README, Serving). Every view here is sync, so
the WSGI handler does the same work for less. a2wsgi hands each request to one of `WEB_THREADS`
threads of a fixed pool (the threads also bound the database connections a process uses) and
streams the response back through the event loop, so streamed exports still stream. WebSockets
(`/ws/...`) stay on Channels, on the same event loop and port.

uvicorn (production, `--workers N`, and the integration stack) and `runserver` all load
`config.asgi:application`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.wsgi import get_wsgi_application

from config import telemetry
from config.collector import tune_collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
telemetry.configure()  # before Django builds its middleware chain; off unless OTLP is configured
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from config.api import error_body  # noqa: E402
from config.parsers import max_body_bytes, too_large_message  # noqa: E402
from studies.routing import websocket_urlpatterns  # noqa: E402
from studies.ws_auth import TokenOrSessionAuthMiddleware  # noqa: E402


class ChunkedBodyLength:
    """A request body sent without a Content-Length (chunked transfer encoding, as `requests`
    sends a generator) is read here, on the event loop, and handed on with its length.

    Django's WSGI handler reads exactly CONTENT_LENGTH bytes of a body, so without one it sees an
    empty body (its ASGI handler read to the end). The body is held in memory, so one larger than
    `API_MAX_BODY_BYTES` is refused with the API's 413 before it is all read."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _chunked(scope["headers"]):
            return await self.app(scope, receive, send)
        limit, body = max_body_bytes(), bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                await _send_json(
                    send, 413, error_body("request_too_large", too_large_message(limit))
                )
                return None
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": bytes(body), "more_body": False}
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return whole
            return await receive()

        headers = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"]
        headers.append((b"content-length", str(len(body)).encode()))
        return await self.app({**scope, "headers": headers}, replay, send)


def _chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    has_length = chunked = False
    for name, value in headers:
        if name == b"content-length":
            has_length = True
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return chunked and not has_length


async def _send_json(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def server_gc_tune() -> None:
    """The collector, tuned for a long-lived server process once the application is loaded
    (`config.collector`): what it loaded is frozen out of the collector's generations, so a full
    collection no longer walks it during a request, and a collection starts after 20,000 new
    container objects instead of 700, so a request that builds a few thousand (a results payload)
    does not set one off by itself. Measured with `bench.serve` on a quiet machine (README,
    Benchmarks): p99 138 and 257 ms before, 47–57 and 40–44 ms after."""
    tune_collector()


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI lifespan: the server (uvicorn) says it has started this process. Tuning here rather
    than at import leaves a process that only imports this module (a test) as it was."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            server_gc_tune()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def cache_backends_per_thread() -> None:
    """Keep Django's cache backends per thread, as its database connections are.

    Django keeps them in an asgiref `Local` that follows the context (contextvars), and a2wsgi
    runs every request in a fresh copy of the event loop's context: each request built a new
    Redis cache backend, so a new connection pool and a new TCP connection to Redis, and the last
    one was closed when collected (about 0.5 ms of CPU a request, measured in-process; README,
    Serving). Per thread, each of the `WEB_THREADS` threads keeps one backend and its open
    connections. The Redis backend is safe to share between requests of a thread (redis-py's
    pool is thread-safe); a test that changes CACHES gets Django's own handler state back."""
    from asgiref.local import Local
    from django.core.cache import caches

    caches._connections = Local(thread_critical=True)  # type: ignore[attr-defined]


cache_backends_per_thread()

# The stubs give WSGIHandler.__call__ its HttpResponse type; a response iterates as bytes, which is
# what a2wsgi's WSGI app type asks for.
http_application = ChunkedBodyLength(
    WSGIMiddleware(django_wsgi_app, workers=settings.WEB_THREADS)  # type: ignore[arg-type]
)

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AllowedHostsOriginValidator(
            TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
        "lifespan": lifespan,
    }
)
