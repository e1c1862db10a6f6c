"""Faults survived by themselves, on real processes: a Celery worker killed with SIGKILL in the
middle of a run. The run must complete with exactly one answer per persona and item, with no
manual step, within 2 minutes of the kill (the watchdog on Celery beat resumes it)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest

from tests.stack import start_celery_worker

pytestmark = pytest.mark.integration

PERSONAS = 6000
ANSWERS = """
SELECT count(*), count(DISTINCT (persona_id, item_id)) FROM studies_answer WHERE run_id = %s
"""


def _kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool processes at once, as an OOM kill or a lost host would."""
    children = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    for pid in [process.pid, *map(int, children)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    process.wait(timeout=10)


def test_a_run_survives_its_worker_being_killed(services_stack):
    stack = services_stack
    population = stack.create_population(PERSONAS, seed=4)
    study = stack.create_study()
    worker = next(p for p in stack.processes if "worker" in p.args)
    fast_watchdog = {"RUN_STALE_SECONDS": "15", "RUN_HEARTBEAT_SECONDS": "3"}
    beat = stack.start_beat(interval_s=3600, RUN_WATCHDOG_SECONDS="3", **fast_watchdog)
    try:
        response = stack.api().post(
            f"{stack.base_url}/api/v1/runs/",
            json={
                "study": study["id"],
                "population": population["id"],
                "backend": "poll_cell",
                "seed": 5,
                "chunk_size": 250,
            },
        )
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        url = f"{stack.base_url}/api/v1/runs/{run_id}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = stack.api().get(url).json()["personas_done"]
            if done >= 250:
                break
            time.sleep(0.1)
        assert 0 < done < PERSONAS, f"not mid-run when killed: {done}/{PERSONAS}"

        _kill_hard(worker)
        stack.processes.remove(worker)
        killed_at = time.monotonic()
        stack.processes.append(
            start_celery_worker(
                env={**stack.env, **fast_watchdog},
                log_path=stack.workdir / "worker-after-kill.log",
                name="after-kill",
                concurrency=2,
            )
        )

        detail: dict = {}
        while time.monotonic() < killed_at + 120:
            detail = stack.api().get(url).json()
            if detail["status"] in ("completed", "failed", "stopped", "cancelled"):
                break
            time.sleep(1)
        recovered_in = time.monotonic() - killed_at
        assert detail["status"] == "completed", (detail, stack.log_text("beat")[-3000:])
        assert recovered_in < 120
        ((answers, distinct),) = stack.sql(ANSWERS, run_id)
        assert answers == distinct == PERSONAS  # one item: exactly one answer per persona
        assert detail["personas_done"] == PERSONAS
        # Recovered by the watchdog, not by the broker's visibility timeout (20 minutes).
        ((resumes,),) = stack.sql("SELECT resume_count FROM studies_run WHERE id = %s", run_id)
        assert resumes >= 1
    finally:
        stack.stop_process(beat)
