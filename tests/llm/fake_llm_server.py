"""A local HTTP server speaking the OpenAI Chat Completions and Anthropic Messages protocols.

Tests script what it does next (`server.script(reply(...), error(429, retry_after=1), ...)`,
`redirect(url)`), and it records every request it receives (path, headers, JSON body) and the peak
number of requests in flight. When the script is empty it answers with `default_content`. `latency_s` delays every answer
(for benchmarks). Usable outside pytest:

    with FakeLLMServer(latency_s=0.2) as server:
        print(server.openai_base_url, server.anthropic_base_url)
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Behaviour:
    kind: str  # "reply" | "error" | "sleep"
    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    input_tokens: int = 11
    output_tokens: int = 7


def reply(content: str | dict, *, input_tokens: int = 11, output_tokens: int = 7) -> Behaviour:
    """Answer with this message content (a dict is sent as its JSON text)."""
    text = json.dumps(content) if isinstance(content, dict) else content
    return Behaviour("reply", content=text, input_tokens=input_tokens, output_tokens=output_tokens)


def error(status: int, *, retry_after: str | float | None = None, message: str = "") -> Behaviour:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Behaviour("error", status=status, headers=headers, content=message or f"error {status}")


def redirect(location: str, *, status: int = 307) -> Behaviour:
    """Send the client elsewhere (a 307 or 308 keeps the method and the body)."""
    return Behaviour(
        "error", status=status, headers={"Location": location}, content=f"moved to {location}"
    )


def sleep(seconds: float, then: str | dict = "{}") -> Behaviour:
    """Hold the request longer than the client's timeout, then (too late) answer."""
    text = json.dumps(then) if isinstance(then, dict) else then
    return Behaviour("sleep", seconds=seconds, content=text)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    received_at: float


class _Server(ThreadingHTTPServer):
    # The standard library listens with a backlog of 5: hundreds of clients connecting at once
    # (an event loop's calls) overflowed it, and each dropped connection waited a second to retry.
    request_queue_size = 512


class FakeLLMServer:
    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        default_content: str | dict = '{"ok": true}',
        responder: Callable[[dict], str | dict | Behaviour] | None = None,
        responder_tokens: tuple[int, int] = (11, 7),
        event_loop: bool = False,
    ):
        self.latency_s = latency_s
        # Computes the answer from the request body when nothing is scripted (e.g. a persona);
        # it may return a Behaviour (an error for this one request).
        self.responder = responder
        # The usage the server reports for a computed answer: (input tokens, output tokens).
        self.responder_tokens = responder_tokens
        self.default_content = (
            json.dumps(default_content) if isinstance(default_content, dict) else default_content
        )
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        # Seconds from a request read to its answer written, summed: the server's own latency.
        self.handling_seconds = 0.0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        # A thread per connection (the tests'), or one event loop for them all (`event_loop`).
        self._loop_server = _LoopServer(self) if event_loop else None
        self._httpd = None if event_loop else _Server(("127.0.0.1", 0), _handler_for(self))
        if self._httpd is not None:
            self._httpd.daemon_threads = True
            self._httpd.block_on_close = False
            self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- lifecycle ---
    def start(self) -> FakeLLMServer:
        if self._loop_server is not None:
            self._loop_server.start()
        else:
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._loop_server is not None:
            self._loop_server.stop()
            return
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._loop_server is not None:
            host, port = self._loop_server.address
        else:
            assert self._httpd is not None
            host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url  # the Anthropic SDK appends /v1/messages itself

    # --- scripting ---
    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def next_behaviour(self, body: dict | None = None) -> Behaviour:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None and body is not None:
            tokens_in, tokens_out = self.responder_tokens
            answer = self.responder(body)
            if isinstance(answer, Behaviour):
                return answer
            return reply(answer, input_tokens=tokens_in, output_tokens=tokens_out)
        return reply(self.default_content)

    def receive(
        self, path: str, headers: Iterable[tuple[str, str]], raw: bytes
    ) -> tuple[dict, dict[str, str], float]:
        """A POST's JSON body and headers (lower-case names), recorded, and when it came."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode(errors="replace")}
        lowered = {k.lower(): v for k, v in headers}
        received = time.monotonic()
        self.record(RecordedRequest(path, lowered, body, received))
        return body, lowered, received

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def done(self, seconds: float = 0.0) -> None:
        with self._lock:
            self.in_flight -= 1
            self.handling_seconds += seconds

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """Requests served and the most in flight at once since the last reset, then a reset if
        asked: what a benchmark in another process reads back (`GET /_stats[?reset=1]`)."""
        with self._lock:
            n = len(self.requests)
            stats = {
                "requests": n,
                "max_in_flight": self.max_in_flight,
                "mean_handling_ms": round(self.handling_seconds / n * 1000, 2) if n else None,
            }
        if reset:
            self.reset()
        return stats

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self.max_in_flight = 0
            self.handling_seconds = 0.0


def _openai_body(body: dict, b: Behaviour) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": b.content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": b.input_tokens,
            "completion_tokens": b.output_tokens,
            "total_tokens": b.input_tokens + b.output_tokens,
        },
    }


def _anthropic_body(body: dict, b: Behaviour) -> dict:
    block: dict[str, Any] = {"type": "text", "text": b.content}
    stop_reason = "end_turn"
    forced = (body.get("tool_choice") or {}).get("type") == "tool"
    if forced:
        # A model forced to use the tool returns its arguments as an object; content that is not
        # a JSON object is answered as text, as a model that ignored the tool would.
        try:
            parsed = json.loads(b.content)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            name = body["tool_choice"]["name"]
            block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}", "name": name}
            block["input"] = parsed
            stop_reason = "tool_use"
    return {
        "id": f"msg_{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": b.input_tokens, "output_tokens": b.output_tokens},
    }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLMServer  # the server it answers for: set per server by _handler_for
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    # Headers and body go out in two writes; with Nagle's algorithm the body waits for the
    # client's delayed ACK, about 40 ms on every answer, which no real provider adds.
    disable_nagle_algorithm = True
    # Buffered writes: the headers and the body of an answer leave in one send (the handler
    # flushes after each request), as a production front end sends a small reply.
    wbufsize = -1

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/_stats":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        self._send(200, self.fake.stats(reset=self.path.endswith("?reset=1")))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body, headers, received = self.fake.receive(self.path, self.headers.items(), raw)
        try:
            self._answer(body, headers)
        finally:
            self.fake.done(time.monotonic() - received)

    def _answer(self, body: dict, headers: dict[str, str]) -> None:
        answer = _answer_for(self.fake, self.path, headers, body)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        self._send(answer.status, answer.payload, answer.headers)


@dataclass(frozen=True)
class _Answer:
    status: int
    payload: dict
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before it is sent: the server's latency, and a scripted sleep


def _answer_for(fake: FakeLLMServer, path: str, headers: dict[str, str], body: dict) -> _Answer:
    """What the server answers to a POST (`headers` with lower-case names), and after how long."""
    anthropic = path.rstrip("/").endswith("/v1/messages")
    openai = path.rstrip("/").endswith("/chat/completions")
    if not (anthropic or openai):
        return _Answer(404, {"error": {"message": f"no route {path}"}})
    # Anthropic accepts the key as `x-api-key` or, as the SDK (2.x) sends it, a bearer token.
    has_key = headers.get("x-api-key") or headers.get("authorization", "").startswith("Bearer ")
    if anthropic and not (has_key and headers.get("anthropic-version")):
        return _Answer(
            401,
            {
                "type": "error",
                "error": {
                    "type": "authentication_error",
                    "message": "an API key (x-api-key or bearer) and anthropic-version are required",
                },
            },
        )
    if openai and not headers.get("authorization", "").startswith("Bearer "):
        return _Answer(401, {"error": {"message": "missing bearer token", "type": "auth"}})
    b = fake.next_behaviour(body)
    delay = fake.latency_s + (b.seconds if b.kind == "sleep" else 0.0)
    if b.kind == "error":
        if anthropic:
            payload = {"type": "error", "error": {"type": "api_error", "message": b.content}}
        else:
            payload = {"error": {"message": b.content, "type": "server_error"}}
        return _Answer(b.status, payload, b.headers, delay)
    return _Answer(200, _anthropic_body(body, b) if anthropic else _openai_body(body, b), {}, delay)


class _LoopServer:
    """The fake served by aiohttp from one event loop on a thread of its own, for benchmarks.

    The threaded server holds a thread per connection, each sleeping out the latency. On the 2
    cores the platform being measured runs on, at 200 requests in flight, its own CPU was 0.67 ms
    a request (26.9 s over the 40,000 calls of bench/llm_engine.py --mode large_workers), this
    one's 0.58 ms (23.2 s, the next run; most of the rest is reading the requests and answering as
    a persona). A provider's server costs its client none of that.
    """

    def __init__(self, fake: FakeLLMServer) -> None:
        self.fake = fake
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the fake LLM server did not start: {self._error}") from self._error

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # before it served: `start` raises it instead of waiting
            self._error = exc
        finally:
            self._ready.set()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        # The backlog of _Server's: hundreds of clients connect at once.
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
        await site.start()
        self.address = runner.addresses[0][:2]
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        if request.method == "GET":
            if request.path != "/_stats":
                return web.json_response(
                    {"error": {"message": f"no route {request.path}"}}, status=404
                )
            return web.json_response(self.fake.stats(reset=request.query.get("reset") == "1"))
        raw = await request.read()
        body, headers, received = self.fake.receive(request.path, request.headers.items(), raw)
        try:
            answer = _answer_for(self.fake, request.path, headers, body)
            if answer.delay_s:
                await asyncio.sleep(answer.delay_s)
            return web.json_response(answer.payload, status=answer.status, headers=answer.headers)
        finally:
            self.fake.done(time.monotonic() - received)


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"fake": server})


def main() -> None:
    """Serve from its own process (the benchmark keeps the server off the engine's interpreter)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--persona", action="store_true", help="answer persona-engine prompts")
    args = parser.parse_args()
    responder = None
    if args.persona:
        from tests.llm.persona_responder import persona_responder

        responder = persona_responder
    server = FakeLLMServer(latency_s=args.latency, responder=responder, event_loop=True).start()
    print(server.url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    main()
