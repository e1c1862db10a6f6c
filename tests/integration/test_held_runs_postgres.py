"""Held runs on the real stack: PostgreSQL, the Celery worker building the population and starting
the run held for it, two processes' threads racing to start one held run, and the population
watchdog starting one that a stopped process left waiting."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.integration

HOLD = """
import json
from django.contrib.auth.models import User
from django.db import transaction
from personas.services import AreaWeight, population_create
from personas.tasks import population_build_dispatch
from studies.models import Study
from studies.services.held_runs import held_run_create

user = User.objects.get(username="{username}")
with transaction.atomic():  # as the study form stores them
    population = population_create(
        size=300, areas=[AreaWeight("dallas_tx_city")], created_by=user, seed=3, defer=True
    )
    held = held_run_create(study=Study.objects.get(pk={study}), population=population,
                           backend="poll_model", backend_config={{}}, budget=None, created_by=user)
    transaction.on_commit(lambda: population_build_dispatch(population_id=population.pk))
print("RESULT=" + json.dumps({{"population": population.pk, "held": held.pk}}))
"""

REDELIVER = """
import json
from personas.build import population_build_execute

print("RESULT=" + json.dumps(population_build_execute(population_id={population}).status))
"""

RACE = """
import json, threading, time
from django.contrib.auth.models import User
from django.db import connections
from personas.build import population_build
from personas.services import AreaWeight, population_create
from studies.models import Run, Study
from studies.services import held_runs

user = User.objects.get(username="{username}")
population = population_create(
    size=50, areas=[AreaWeight("dallas_tx_city")], created_by=user, seed=4, defer=True
)
study = Study.objects.get(pk={study})
held = held_runs.held_run_create(study=study, population=population, backend="poll_model",
                                 backend_config={{}}, budget=None, created_by=user)
population_build(population_id=population.pk)  # ready; the held run not started yet

real_start = held_runs.run_start

def slow_start(**kwargs):  # the first start keeps its lock a second: the second must wait
    run = real_start(**kwargs)
    time.sleep(1.0)
    return run

held_runs.run_start = slow_start
barrier, results = threading.Barrier(2), []

def start():
    barrier.wait()
    began = time.monotonic()
    try:
        settled = held_runs.held_runs_start(population_id=population.pk)
        results.append((len(settled), round(time.monotonic() - began, 2)))
    finally:
        connections.close_all()

threads = [threading.Thread(target=start) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
held.refresh_from_db()
print("RESULT=" + json.dumps({{
    "results": sorted(results),
    "runs": Run.objects.filter(population=population).count(),
    "status": held.status,
    "run": held.run_id,
}}))
"""

WATCHDOG = """
import json
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from personas.models import Population
from personas.build import population_build
from personas.services import AreaWeight, population_create
from personas.tasks import populations_watchdog_task
from studies.models import Study
from studies.services.held_runs import held_run_create

user = User.objects.get(username="{username}")
population = population_create(
    size=50, areas=[AreaWeight("dallas_tx_city")], created_by=user, seed=6, defer=True
)
held = held_run_create(study=Study.objects.get(pk={study}), population=population,
                       backend="poll_model", backend_config={{}}, budget=None, created_by=user)
population_build(population_id=population.pk)  # ready; its process stops before the start
within_grace = populations_watchdog_task()
Population.objects.filter(pk=population.pk).update(
    finished_at=timezone.now() - timedelta(minutes=2)
)
print("RESULT=" + json.dumps({{
    "held": held.pk, "within_grace": within_grace, "after": populations_watchdog_task(),
}}))
"""


def _result(out: str) -> dict:
    return json.loads(out.split("RESULT=")[1])


def _held(stack, held_id: int, timeout: float = 120) -> tuple[str, int | None]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [(status, run_id)] = stack.sql(
            "SELECT status, run_id FROM studies_heldrun WHERE id = %s", held_id
        )
        if status != "held":
            return status, run_id
        time.sleep(0.3)
    raise AssertionError(f"held run {held_id} still held after {timeout} s")


def test_the_worker_builds_the_population_and_starts_the_held_run_once(services_stack):
    study = services_stack.create_study()["id"]
    script = HOLD.format(username=services_stack.username, study=study)
    ids = _result(services_stack.manage("shell", "-c", script))
    status, run_id = _held(services_stack, ids["held"])
    assert status == "started" and run_id is not None
    run = services_stack.wait_for_run(run_id)
    assert run["status"] == "completed" and run["personas_done"] == 300
    # The completion delivered again (acks_late) starts nothing more.
    again = REDELIVER.format(population=ids["population"])
    assert _result(services_stack.manage("shell", "-c", again)) == "ready"
    runs = services_stack.sql(
        "SELECT count(*) FROM studies_run WHERE population_id = %s", ids["population"]
    )
    assert runs == [(1,)]


def test_two_threads_starting_one_held_run_start_it_once(services_stack):
    study = services_stack.create_study()["id"]
    script = RACE.format(username=services_stack.username, study=study)
    result = _result(services_stack.manage("shell", "-c", script))
    assert result["runs"] == 1 and result["status"] == "started" and result["run"]
    (lost, lost_s), (won, _) = result["results"]
    assert (lost, won) == (0, 1)
    # The loser really raced: it waited on the winner's row lock rather than coming after it.
    assert lost_s >= 0.9


def test_the_watchdog_starts_a_held_run_left_waiting_on_a_ready_population(services_stack):
    study = services_stack.create_study()["id"]
    script = WATCHDOG.format(username=services_stack.username, study=study)
    result = _result(services_stack.manage("shell", "-c", script))
    held = result["held"]
    assert held not in result["within_grace"]["held_runs_settled"]
    assert held in result["after"]["held_runs_settled"]
    status, run_id = _held(services_stack, held)
    assert status == "started" and run_id is not None
    run = services_stack.wait_for_run(run_id)  # the worker runs it
    assert run["status"] == "completed" and run["personas_done"] == 50
