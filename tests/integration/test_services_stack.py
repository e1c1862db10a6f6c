"""PostgreSQL + Redis + a real Celery worker + daphne, driven over HTTP and WebSockets."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from celery import Celery

pytestmark = pytest.mark.integration


async def _collect(url: str, origin: str, timeout: float = 120) -> list[dict]:
    messages: list[dict] = []
    async with websockets.connect(url, origin=origin, open_timeout=10) as socket:
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await socket.recv())
                messages.append(message)
                if message["type"] in ("completion", "error"):
                    return messages


def test_a_run_started_through_the_api_completes_in_the_worker_with_live_progress(services_stack):
    stack = services_stack
    run = stack.start_run(size=3000, chunk_size=100, seed=21)
    assert run["status"] in ("queued", "running")
    messages = asyncio.run(
        _collect(f"{stack.ws_base}/ws/runs/{run['id']}/?token={stack.token}", origin=stack.base_url)
    )

    progress = [m for m in messages if m["type"] == "progress"]
    assert any(0 < m["personas_completed"] < 3000 for m in progress), messages[:3]
    # Two worker processes publish concurrently, so messages may interleave; none exceeds the total.
    assert all(0 <= m["personas_completed"] <= 3000 for m in messages)
    final = messages[-1]
    assert final == {
        **final,
        "type": "completion",
        "status": "completed",
        "personas_completed": 3000,
        "total_personas": 3000,
        "percent": 100.0,
    }

    results = stack.api().get(f"{stack.base_url}/api/v1/runs/{run['id']}/results/").json()
    item = results["items"][0]
    assert item["n"] == 3000 and sum(o["count"] for o in item["options"]) == 3000
    assert len(item["breakdowns"]["area"]) == 4
    # The worker process, not the web process, answered the personas.
    assert stack.sql("SELECT count(*) FROM studies_answer WHERE run_id = %s", run["id"]) == [
        (3000,)
    ]
    assert "studies.tasks.run_chunk" in stack.log_text("worker")
    assert "studies.tasks.run_complete" in stack.log_text("worker")


def test_a_redelivered_chunk_writes_no_duplicate_rows(services_stack):
    stack = services_stack
    run = stack.start_run(size=300, chunk_size=100, seed=22)
    assert stack.wait_for_run(run["id"])["status"] == "completed"
    before = stack.sql(
        "SELECT persona_id, option_id FROM studies_answer WHERE run_id = %s ORDER BY 1", run["id"]
    )

    client = Celery(broker=stack.env["REDIS_URL"], backend=stack.env["REDIS_URL"])
    redelivered = client.send_task("studies.tasks.run_chunk", args=[run["id"], 0, 100])
    assert redelivered.get(timeout=60) == 0  # nothing newly answered

    after = stack.sql(
        "SELECT persona_id, option_id FROM studies_answer WHERE run_id = %s ORDER BY 1", run["id"]
    )
    assert after == before and len(after) == 300


def test_a_run_cancelled_through_the_api_stops_and_keeps_its_answers(services_stack):
    stack = services_stack
    run = stack.start_run(size=8000, chunk_size=100, seed=23)
    response = stack.api().post(f"{stack.base_url}/api/v1/runs/{run['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    time.sleep(3)  # chunks already taken finish their current persona batch, the rest skip
    settled = stack.sql("SELECT count(*) FROM studies_answer WHERE run_id = %s", run["id"])[0][0]
    time.sleep(2)
    assert (
        stack.sql("SELECT count(*) FROM studies_answer WHERE run_id = %s", run["id"])[0][0]
        == settled
    )
    assert settled < 8000
    detail = stack.api().get(f"{stack.base_url}/api/v1/runs/{run['id']}/").json()
    assert detail["status"] == "cancelled"
    conflict = stack.api().get(f"{stack.base_url}/api/v1/runs/{run['id']}/results/")
    assert conflict.status_code == 409


def test_an_unauthenticated_socket_is_rejected(services_stack):
    stack = services_stack

    async def attempt():
        async with websockets.connect(
            f"{stack.ws_base}/ws/runs/1/", origin=stack.base_url
        ) as socket:
            await socket.recv()

    with pytest.raises(websockets.InvalidStatus) as info:
        asyncio.run(attempt())
    assert info.value.response.status_code == 403
