"""The embedded default (SQLite, no Redis) under the production web server: one uvicorn process
whose HTTP requests run on the WSGI thread pool, a run on a background thread started from one of
them, and its progress over the in-memory channel layer to a WebSocket on the same port."""

from __future__ import annotations

import ast
import asyncio
import re
import sqlite3
from contextlib import closing

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


def test_a_language_model_run_spreads_over_two_processes_and_answers_as_one_would(
    embedded_stack,
):
    """A language-model run of several chunks, started over HTTP, answered by the web process
    and a process of its pool (studies.lanes; the stack allows two), each with half the engine's
    concurrency; progress still reaches the socket, and the answers are those one process gives."""
    from tests.llm.fake_llm_server import FakeLLMServer
    from tests.llm.persona_responder import persona_responder

    stack = embedded_stack

    def config(model_name: str) -> dict:
        return {
            "llm": {
                "provider": "openai",
                "model": model_name,
                "seed": 5,
                "base_url": model.openai_base_url,
            },
            "engine": {"concurrency": 4, "depth": "shallow"},
        }

    with FakeLLMServer(responder=persona_responder, latency_s=0.05) as model:
        run = stack.start_run(
            size=40, chunk_size=5, seed=31, backend="llm", backend_config=config("gpt-lanes")
        )
        messages = asyncio.run(
            run_messages(
                f"{stack.ws_base}/ws/runs/{run['id']}/?token={stack.token}", origin=stack.base_url
            )
        )
        final = messages[-1]
        assert final["type"] == "completion" and final["status"] == "completed", final
        assert final["personas_completed"] == 40
        detail = stack.api().get(f"{stack.base_url}/api/v1/runs/{run['id']}/").json()
        assert detail["personas_done"] == 40 and detail["personas_failed"] == 0
        assert detail["llm_calls"] == 40 * 4 == len(model.requests)
        assert model.max_in_flight <= 4  # two processes, two requests at once each
        found = re.search(
            rf"Run {run['id']}: personas answered by process (\{{[^}}]*\}})",
            stack.log_text("server"),
        )
        assert found, stack.log_text("server")[-2000:]
        by_process = ast.literal_eval(found.group(1))
        assert len(by_process) == 2 and sum(by_process.values()) == 40, by_process

        # The same population, study and seed in one chunk, so in one process, on a model name
        # of its own (nothing from the cache): the same answers.
        again = stack.api().post(
            f"{stack.base_url}/api/v1/runs/",
            json={
                "study": detail["study"],
                "population": detail["population"],
                "seed": 31,
                "chunk_size": 40,
                "backend": "llm",
                "backend_config": config("gpt-one-process"),
            },
        )
        assert again.status_code == 201, again.text
        rerun = stack.wait_for_run(again.json()["id"])
        assert rerun["status"] == "completed" and rerun["cached_calls"] == 0
        assert f"Run {rerun['id']}: personas answered" not in stack.log_text("server")

    database = (
        stack.env.get("SQLITE_PATH") or f"{stack.env['PERSONALAB_VAR_DIR']}/personalab.sqlite3"
    )

    def answers(run_id: int) -> list[tuple]:
        with closing(sqlite3.connect(database)) as conn:
            return conn.execute(
                "SELECT persona_id, item_id, option_id, number, text FROM studies_answer "
                "WHERE run_id = ? ORDER BY persona_id, item_id",
                (run_id,),
            ).fetchall()

    spread, single = answers(run["id"]), answers(rerun["id"])
    assert len(spread) == 40 and spread == single  # one item
