"""The embedded default (SQLite, no Redis) under the production web server: one uvicorn process
whose HTTP requests run on the WSGI thread pool, a run on a background thread started from one of
them, and its progress over the in-memory channel layer to a WebSocket on the same port."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.sockets import run_messages

pytestmark = pytest.mark.integration


def test_a_run_started_over_http_reports_live_progress_over_a_socket(embedded_stack):
    stack = embedded_stack
    run = stack.start_run(size=3000, chunk_size=100, seed=5)
    assert run["status"] in ("queued", "running", "completed")
    messages = asyncio.run(
        run_messages(
            f"{stack.ws_base}/ws/runs/{run['id']}/?token={stack.token}", origin=stack.base_url
        )
    )
    # The socket joins while the run goes on: it hears the run's progress, then its end.
    progress = [m for m in messages if m["type"] == "progress"]
    assert any(0 < m["personas_completed"] < 3000 for m in progress), messages[:3]
    final = messages[-1]
    assert final["type"] == "completion" and final["status"] == "completed", final
    assert final["personas_completed"] == 3000 == final["total_personas"]
    results = stack.api().get(f"{stack.base_url}/api/v1/runs/{run['id']}/results/")
    assert results.status_code == 200
    assert results.json()["items"][0]["n"] == 3000
