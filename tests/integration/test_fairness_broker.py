"""Fairness between clients on the real broker: Redis priorities, a real Celery worker process.

`tests/studies/test_dispatch_fairness.py` proves the priority arithmetic against a model of the
broker; this proves the deployed pieces honour it: Celery's Redis transport with one list per
priority level (`CELERY_BROKER_TRANSPORT_OPTIONS`), `acks_late` with a prefetch of one, and the
priorities `studies.dispatch.run_canvas` puts on each chunk message.

One client queues a run of 100 chunks (10,000 personas, chunks of 100); a second client starts a one-chunk run just after. First-in-first-out, the second run would wait
behind the whole backlog and finish after the first; with priorities its chunk is served next, so it
completes while most of the first client's chunks are still queued.
"""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = pytest.mark.integration

AREAS = [{"area": a} for a in ("dallas_tx_city", "detroit_mi_city")]


def _client_session(stack, username: str) -> requests.Session:
    token = (
        stack.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User\n"
            "from accounts.models import Token\n"
            f"u = User.objects.create_user('{username}', password='fair-{username}-pw-2026')\n"
            "print('TOKEN=' + Token.objects.create(user=u).key)",
        )
        .split("TOKEN=")[1]
        .strip()
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session


def _prepare(stack, api: requests.Session, *, size: int, seed: int) -> tuple[int, int]:
    """A population and a one-item study of the client's own; returns their ids."""
    population = api.post(
        f"{stack.base_url}/api/v1/populations/", json={"size": size, "seed": seed, "areas": AREAS}
    )
    assert population.status_code == 201, population.text
    study = api.post(
        f"{stack.base_url}/api/v1/studies/",
        json={
            "title": "Employer abortion coverage",
            "items": [
                {
                    "code": "coverage",
                    "text": "Allow employers to decline abortion coverage?",
                    "poll_question": stack.question_id(),
                }
            ],
        },
    )
    assert study.status_code == 201, study.text
    return population.json()["id"], study.json()["id"]


def _start(stack, api: requests.Session, population: int, study: int, seed: int) -> dict:
    response = api.post(
        f"{stack.base_url}/api/v1/runs/",
        json={"study": study, "population": population, "chunk_size": 100, "seed": seed},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _answers(stack, run_id: int) -> int:
    return stack.sql("SELECT count(*) FROM studies_answer WHERE run_id = %s", run_id)[0][0]


def test_a_second_clients_small_run_is_served_before_the_first_clients_backlog(services_stack):
    stack = services_stack
    heavy, light = _client_session(stack, "fair-heavy"), _client_session(stack, "fair-light")
    # Everything but the two run starts happens first, so the starts are back to back.
    heavy_population, heavy_study = _prepare(stack, heavy, size=10_000, seed=41)
    light_population, light_study = _prepare(stack, light, size=100, seed=42)

    heavy_run = _start(stack, heavy, heavy_population, heavy_study, seed=41)
    assert heavy_run["chunk_size"] == 100  # 100 chunks queued at once
    light_run = _start(stack, light, light_population, light_study, seed=42)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = light.get(f"{stack.base_url}/api/v1/runs/{light_run['id']}/").json()["status"]
        if status in ("completed", "failed", "cancelled", "stopped"):
            break
        time.sleep(0.05)
    heavy_done_then = _answers(stack, heavy_run["id"])
    assert status == "completed"
    assert _answers(stack, light_run["id"]) == 100
    # First-in-first-out puts the light chunk behind every heavy one: measured on a 20,000-persona
    # heavy run with every priority forced to 0, all 20,000 were done when the light run completed;
    # with priorities, 500 (the chunks the two worker processes had already taken or prefetched).
    assert heavy_done_then <= 10_000 // 4, (
        f"the light client's run finished only after {heavy_done_then} of the heavy client's "
        "10,000 personas were answered: its chunk waited behind the backlog"
    )

    # The heavy run is not starved in turn: it completes, every persona answered once.
    assert stack.wait_for_run(heavy_run["id"], timeout=300)["status"] == "completed"
    assert _answers(stack, heavy_run["id"]) == 10_000
    assert (
        stack.sql(
            "SELECT count(*) FROM (SELECT persona_id FROM studies_answer WHERE run_id = %s "
            "GROUP BY persona_id HAVING count(*) > 1) d",
            heavy_run["id"],
        )[0][0]
        == 0
    )
