"""The fake LLM server served from one event loop (the benchmarks') answers as the threaded one."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.llm.fake_llm_server import FakeLLMServer, error, reply

OPENAI = ("/v1/chat/completions", {"Authorization": "Bearer sk-test"})
ANTHROPIC = ("/v1/messages", {"x-api-key": "sk-ant", "anthropic-version": "2023-06-01"})
TOOL_BODY = {
    "model": "claude-test",
    "messages": [{"role": "user", "content": "hi"}],
    "tool_choice": {"type": "tool", "name": "answer"},
}


def _post(server: FakeLLMServer, path: str, headers: dict, body: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def _comparable(payload: dict) -> dict:
    """The payload without what differs on every answer (ids, the time)."""
    drop = {"id", "created"}
    out = {k: v for k, v in payload.items() if k not in drop}
    if isinstance(out.get("content"), list):
        out["content"] = [{k: v for k, v in b.items() if k != "id"} for b in out["content"]]
    return out


def _exchanges(server: FakeLLMServer) -> list:
    server.script(
        reply({"answer": 3}, input_tokens=5, output_tokens=2),
        reply('{"answer": 4}'),
        error(429, retry_after=2, message="slow down"),
        error(500, message="boom"),
    )
    got = [
        _post(server, *OPENAI, {"model": "gpt-test", "messages": []}),
        _post(server, *ANTHROPIC, TOOL_BODY),
        _post(server, *OPENAI, {"model": "gpt-test"}),
        _post(server, *ANTHROPIC, {"model": "claude-test"}),
        _post(server, "/v1/chat/completions", {}, {}),  # no key
        _post(server, "/v1/messages", {"x-api-key": "k"}, {}),  # no anthropic-version
        _post(server, "/v2/other", {"Authorization": "Bearer k"}, {}),
    ]
    return [
        (status, headers.get("Retry-After"), _comparable(body)) for status, headers, body in got
    ]


def test_the_event_loop_server_answers_every_request_as_the_threaded_one():
    with FakeLLMServer() as threaded, FakeLLMServer(event_loop=True) as looped:
        expected = _exchanges(threaded)
        got = _exchanges(looped)

    assert got == expected
    assert [status for status, _, _ in got] == [200, 200, 429, 500, 401, 401, 404]
    assert got[1][2]["content"][0]["input"] == {"answer": 4}  # the forced tool's arguments
    assert got[2][1] == "2"


def test_the_event_loop_server_waits_its_latency_for_requests_at_once_and_counts_them():
    with FakeLLMServer(latency_s=0.3, event_loop=True) as server:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: _post(server, *OPENAI, {"model": f"m{i}"}), range(8)))
        elapsed = time.monotonic() - started
        with urllib.request.urlopen(server.url + "/_stats?reset=1") as resp:
            stats = json.loads(resp.read())
        with urllib.request.urlopen(server.url + "/_stats") as resp:
            after_reset = json.loads(resp.read())

    assert [a[0] for a in answers] == [200] * 8
    assert [a[2]["model"] for a in answers] == [f"m{i}" for i in range(8)]
    assert 0.3 <= elapsed < 2.0  # together, not one after another (8 x 0.3 s)
    assert stats["requests"] == 8 and stats["max_in_flight"] == 8
    assert stats["mean_handling_ms"] == pytest.approx(300, abs=100)
    assert after_reset == {"requests": 0, "max_in_flight": 0, "mean_handling_ms": None}


def test_the_event_loop_server_says_why_it_did_not_start(monkeypatch):
    from aiohttp import web

    async def refuse(self):
        raise OSError("address in use")

    monkeypatch.setattr(web.TCPSite, "start", refuse)
    with pytest.raises(RuntimeError, match="did not start: address in use"):
        FakeLLMServer(event_loop=True).start()
