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
            time.sleep(0.2)
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


POPULATION = 25_000  # above the server's POPULATION_INLINE_MAX (20,000): built by a task
PERSONA_ROWS = """
SELECT index, area_id, age, age_bracket, sex, race_ethnicity, education, income, name,
       profile::text
FROM personas_persona WHERE population_id = %s ORDER BY index
"""


def test_a_population_build_survives_its_worker_being_killed(services_stack):
    """The worker building a large population is SIGKILLed after some batches: the watchdog on
    Celery beat hands the build to the next worker, which continues after the last committed batch;
    the population ends ready with exactly its personas, equal to an uninterrupted build's."""
    stack = services_stack
    # Small batches, so the kill lands mid-build; a short stale time, so the test is short.
    fast = {"POPULATION_BUILD_BATCH": "1000", "POPULATION_STALE_SECONDS": "8"}
    env = {**stack.env, **fast}
    for process in [p for p in stack.processes if "worker" in p.args]:
        _kill_hard(process)
        stack.processes.remove(process)
    worker = start_celery_worker(
        env=env, log_path=stack.workdir / "worker-build.log", name="build", concurrency=1
    )
    stack.processes.append(worker)
    beat = stack.start_beat(interval_s=3600, POPULATION_WATCHDOG_SECONDS="2", **fast)
    api = stack.api()

    def create() -> str:
        body = {
            "size": POPULATION,
            "seed": 12,
            "include_behavioral_characteristics": True,
            "areas": [{"area": "dallas_tx_city"}, {"area": "phoenix_az_city"}],
        }
        response = api.post(f"{stack.base_url}/api/v1/populations/", json=body)
        assert response.status_code == 202, response.text
        return stack.base_url + response.headers["Location"]

    def wait_ready(url: str, since: float) -> dict:
        detail: dict = {}
        while time.monotonic() < since + 120:
            detail = api.get(url).json()
            if detail["status"] in ("ready", "failed"):
                break
            time.sleep(0.2)
        return detail

    try:
        url = create()
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline:
            done = api.get(url).json()["personas_done"]
            if done >= 3000:
                break
            time.sleep(0.05)
        assert 0 < done < POPULATION, f"not mid-build when killed: {done}/{POPULATION}"
        population_id = api.get(url).json()["id"]
        first = stack.sql(
            "SELECT id FROM personas_persona WHERE population_id = %s AND index = 0", population_id
        )

        _kill_hard(worker)
        stack.processes.remove(worker)
        killed_at = time.monotonic()
        worker = start_celery_worker(
            env=env, log_path=stack.workdir / "worker-build-after.log", name="after", concurrency=1
        )
        stack.processes.append(worker)
        detail = wait_ready(url, killed_at)
        assert detail["status"] == "ready", (detail, stack.log_text("beat")[-3000:])
        assert time.monotonic() - killed_at < 120
        ((count, distinct, attempts),) = stack.sql(
            "SELECT count(*), count(DISTINCT index), max(p.build_attempt) FROM personas_persona "
            "JOIN personas_population p ON p.id = population_id WHERE population_id = %s",
            population_id,
        )
        assert count == distinct == detail["personas_done"] == POPULATION
        assert attempts == 2  # taken up once, by the watchdog's task
        assert f"Population {population_id} was silent" in stack.log_text("worker-build-after")
        # Continued, not started over: the rows committed before the kill are still there.
        assert (
            stack.sql(
                "SELECT id FROM personas_persona WHERE population_id = %s AND index = 0",
                population_id,
            )
            == first
        )

        reference = create()
        assert wait_ready(reference, time.monotonic())["status"] == "ready"
        reference_id = api.get(reference).json()["id"]
        assert stack.sql(PERSONA_ROWS, population_id) == stack.sql(PERSONA_ROWS, reference_id)
    finally:
        stack.stop_process(beat)
        # The stack is shared: the modules after this one get two worker processes again, not
        # this test's single one with its short batches and stale time.
        stack.replace_workers()
