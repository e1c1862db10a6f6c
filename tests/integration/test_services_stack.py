"""PostgreSQL + Redis + a real Celery worker + uvicorn (two web processes, as production), driven
over HTTP and WebSockets."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from celery import Celery

from tests.integration.sockets import run_messages

pytestmark = pytest.mark.integration


def test_a_run_started_through_the_api_completes_in_the_worker_with_live_progress(services_stack):
    stack = services_stack
    run = stack.start_run(size=3000, chunk_size=100, seed=21)
    assert run["status"] in ("queued", "running")
    messages = asyncio.run(
        run_messages(
            f"{stack.ws_base}/ws/runs/{run['id']}/?token={stack.token}", origin=stack.base_url
        )
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


def test_an_llm_run_completes_in_the_worker_and_a_rerun_is_served_from_the_cache(services_stack):
    """The persona engine in the Celery worker, on PostgreSQL, against a local server speaking
    the OpenAI protocol; limits shared through Redis; progress with cost over the WebSocket."""
    from tests.llm.fake_llm_server import FakeLLMServer
    from tests.llm.persona_responder import persona_responder

    stack = services_stack
    with FakeLLMServer(responder=persona_responder, latency_s=0.02) as model:
        config = {
            "llm": {
                "provider": "openai",
                "model": "gpt-it",
                "seed": 5,
                "base_url": model.openai_base_url,
            },
            "engine": {"concurrency": 4, "depth": "shallow"},
        }
        run = stack.start_run(size=40, chunk_size=10, seed=31, backend="llm", backend_config=config)
        messages = asyncio.run(
            run_messages(
                f"{stack.ws_base}/ws/runs/{run['id']}/?token={stack.token}", origin=stack.base_url
            )
        )
        assert messages[-1]["type"] == "completion", messages[-1]
        assert any("cost_spent" in m for m in messages if m["type"] == "progress")
        detail = stack.api().get(f"{stack.base_url}/api/v1/runs/{run['id']}/").json()
        assert detail["status"] == "completed" and detail["personas_done"] == 40
        assert (
            detail["personas_failed"] == 0 and detail["llm_calls"] == 40 * 4
        )  # analyze, context, experience, participation
        assert len(model.requests) == 40 * 4
        assert model.max_in_flight <= 2 * 4  # two worker processes, four threads each
        records = stack.sql(
            "SELECT count(*) FROM studies_runpersona WHERE run_id = %s AND status = 'ok' "
            "AND context IS NOT NULL AND experience IS NOT NULL AND response IS NOT NULL",
            run["id"],
        )
        assert records == [(40,)]
        results = stack.api().get(f"{stack.base_url}/api/v1/runs/{run['id']}/results/").json()
        assert results["items"][0]["n"] == 40

        # The same study, population and seed again: every call is answered from the cache.
        again = stack.api().post(
            f"{stack.base_url}/api/v1/runs/",
            json={
                "study": detail["study"],
                "population": detail["population"],
                "seed": 31,
                "chunk_size": 10,
                "backend": "llm",
                "backend_config": config,
            },
        )
        assert again.status_code == 201, again.text
        rerun = stack.wait_for_run(again.json()["id"])
        assert rerun["status"] == "completed"
        assert rerun["cached_calls"] == rerun["llm_calls"] == 40 * 4
        assert len(model.requests) == 40 * 4
    assert "studies.tasks.run_chunk" in stack.log_text("worker")


def test_a_quiet_socket_stays_open_and_still_relays(services_stack):
    """A run can go many seconds between messages (a slow model); its socket must not drop."""
    from channels_redis.core import RedisChannelLayer

    stack = services_stack
    run = stack.start_run(size=40, chunk_size=40, seed=24)
    stack.wait_for_run(run["id"])

    async def quiet_then_message() -> dict:
        url = f"{stack.ws_base}/ws/runs/{run['id']}/?token={stack.token}"
        async with websockets.connect(url, origin=stack.base_url, open_timeout=10) as socket:
            snapshot = json.loads(await socket.recv())
            assert snapshot["type"] == "completion"
            await asyncio.sleep(8)  # longer than the layer's 5 s blocking pop
            layer = RedisChannelLayer(hosts=[stack.env["REDIS_URL"]])
            await layer.group_send(
                f"run_{run['id']}", {"type": "run.event", "payload": {"type": "probe"}}
            )
            async with asyncio.timeout(10):
                return json.loads(await socket.recv())

    assert asyncio.run(quiet_then_message()) == {"type": "probe"}
