"""A local HTTP server speaking the OpenAI Chat Completions and Anthropic Messages protocols.

Tests script what it does next (`server.script(reply(...), error(429, retry_after=1), ...)`,
`redirect(url)`), and it records every request it receives (path, headers, JSON body) and the peak
number of requests in flight. When the script is empty it answers with `default_content`. `latency_s` delays every answer
(for benchmarks). Usable outside pytest:

    with FakeLLMServer(latency_s=0.2) as server:
        print(server.openai_base_url, server.anthropic_base_url)
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
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
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- lifecycle ---
    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
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

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def done(self, seconds: float = 0.0) -> None:
        with self._lock:
            self.in_flight -= 1
            self.handling_seconds += seconds

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
        # What a benchmark in another process reads back: requests served and the most in
        # flight at once since the last reset (`/_stats?reset=1` reads, then resets).
        if self.path.split("?")[0] != "/_stats":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        with self.fake._lock:
            n = len(self.fake.requests)
            stats = {
                "requests": n,
                "max_in_flight": self.fake.max_in_flight,
                "mean_handling_ms": round(self.fake.handling_seconds / n * 1000, 2) if n else None,
            }
        if self.path.endswith("?reset=1"):
            self.fake.reset()
        self._send(200, stats)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode(errors="replace")}
        headers = {k.lower(): v for k, v in self.headers.items()}
        received = time.monotonic()
        self.fake.record(RecordedRequest(self.path, headers, body, received))
        try:
            self._answer(body, headers)
        finally:
            self.fake.done(time.monotonic() - received)

    def _answer(self, body: dict, headers: dict[str, str]) -> None:
        anthropic = self.path.rstrip("/").endswith("/v1/messages")
        openai = self.path.rstrip("/").endswith("/chat/completions")
        if not (anthropic or openai):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        # Anthropic accepts the key as `x-api-key` or, as the SDK (2.x) sends it, a bearer token.
        has_key = headers.get("x-api-key") or headers.get("authorization", "").startswith("Bearer ")
        if anthropic and not (has_key and headers.get("anthropic-version")):
            self._send(
                401,
                {
                    "type": "error",
                    "error": {
                        "type": "authentication_error",
                        "message": "an API key (x-api-key or bearer) and anthropic-version are required",
                    },
                },
            )
            return
        if openai and not headers.get("authorization", "").startswith("Bearer "):
            self._send(401, {"error": {"message": "missing bearer token", "type": "auth"}})
            return
        b = self.fake.next_behaviour(body)
        if self.fake.latency_s:
            time.sleep(self.fake.latency_s)
        if b.kind == "sleep":
            time.sleep(b.seconds)
        if b.kind == "error":
            if anthropic:
                payload = {
                    "type": "error",
                    "error": {"type": "api_error", "message": b.content},
                }
            else:
                payload = {"error": {"message": b.content, "type": "server_error"}}
            self._send(b.status, payload, b.headers)
            return
        self._send(200, _anthropic_body(body, b) if anthropic else _openai_body(body, b))


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
    server = FakeLLMServer(latency_s=args.latency, responder=responder).start()
    print(server.url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    main()
