"""Benchmark: a population built off the request (personas.build.population_build), batch by
batch, as a client polling it sees its progress.

For each database (a fresh SQLite file; PostgreSQL too when ``BENCH_DATABASE_URL`` is set), in its
own process, 100,000 personas with full profiles over the four demo cities are built three ways:

- ``one_write``: every persona in one write (what a build inside a request does);
- ``batched``: POPULATION_BUILD_BATCH personas a commit, as the task builds it, while a thread on
  its own connection reads ``personas_done`` every 0.2 s (what a client polling the API sees);
- ``resumed``: the batched build killed before its sixth batch (an exception nothing catches, as
  with kill -9), then taken up again: the second attempt's time, and whether its personas equal
  the uninterrupted build's.

Results go to ``bench/results/population_build.json`` with the machine's load average.

    .venv/bin/python -m bench.population_build
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import worker_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "population_build.json"
SIZE = 100_000
AREAS = ("dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city")
SEED = 20240601
KILL_BEFORE_BATCH = 6


class WorkerLost(BaseException):
    pass


def _worker(database: str) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from personas import build
    from personas.build import population_build
    from personas.models import Persona, Population
    from personas.services import AreaWeight, population_create

    with open(os.devnull, "w") as quiet:
        call_command("migrate", verbosity=0, stdout=quiet)
        call_command("load_areas", stdout=quiet)
    settings.POPULATION_MAX_SIZE = max(settings.POPULATION_MAX_SIZE, SIZE)
    batch = settings.POPULATION_BUILD_BATCH

    def queued() -> int:
        return population_create(
            size=SIZE,
            areas=[AreaWeight(a) for a in AREAS],
            seed=SEED,
            name="bench-build",
            include_behavioral_characteristics=True,
            defer=True,
        ).pk

    def personas(pk: int) -> list[tuple]:
        return list(
            Persona.objects.filter(population_id=pk)
            .order_by("index")
            .values_list("index", "area_id", "age", "sex", "income", "name", "profile")
        )

    started = time.perf_counter()
    one = queued()
    population_build(population_id=one, batch=SIZE)
    one_write = {"wall_seconds": round(time.perf_counter() - started, 2)}

    # The batched build, watched from another connection.
    pk = queued()
    samples: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def watch() -> None:
        try:
            while not stop.is_set():
                row = Population.objects.filter(pk=pk).values_list("personas_done", "stage")
                done, stage = row.get()
                samples.append((time.perf_counter(), done, stage))
                stop.wait(0.2)
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    watcher.start()
    population_build(population_id=pk)
    wall = time.perf_counter() - started
    stop.set()
    watcher.join()
    # What a polling client sees change: the stage (each area's fit) or personas_done.
    changes = [
        (round(t - started, 2), n, stage)
        for (t, n, stage), (_, n_before, stage_before) in zip(samples[1:], samples, strict=False)
        if (n, stage) != (n_before, stage_before)
    ]
    times = [0.0, *(c[0] for c in changes), wall]
    batched = {
        "wall_seconds": round(wall, 2),
        "batch": batch,
        "changes_seen": changes,
        "first_personas_seconds": next((t for t, n, _ in changes if n), None),
        "longest_wait_without_a_change_seconds": round(
            max(b - a for a, b in itertools.pairwise(times)), 2
        ),
        "personas_equal_one_write": personas(pk) == personas(one),
    }

    # Killed before a batch, then taken up again.
    pk = queued()
    real = build.personas_insert
    calls = []

    def killing(**kwargs):
        calls.append(kwargs["stop"])
        if len(calls) == KILL_BEFORE_BATCH:
            raise WorkerLost
        return real(**kwargs)

    build.personas_insert = killing  # type: ignore[assignment]
    with contextlib.suppress(WorkerLost):
        population_build(population_id=pk)
    build.personas_insert = real
    written = Population.objects.get(pk=pk).personas_done
    started = time.perf_counter()
    population_build(population_id=pk)
    resumed = {
        "killed_after_personas": written,
        "resume_wall_seconds": round(time.perf_counter() - started, 2),
        "personas_equal_one_write": personas(pk) == personas(one),
    }
    if database == "postgresql":
        Population.objects.filter(name="bench-build").delete()
    return {
        "database": database,
        "personas": SIZE,
        "with_profile": True,
        "one_write": one_write,
        "batched": batched,
        "resumed": resumed,
    }


def _measured(database: str, env: dict[str, str]) -> dict:
    load_before = [round(x, 2) for x in os.getloadavg()]
    run = worker_run("bench.population_build", database, env=env)
    return {
        "database": database,
        **run,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> dict:
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        env = {
            "SQLITE_PATH": str(Path(tmp) / "bench.sqlite3"),
            "DATABASE_URL": "",
            "DEBUG": "False",
        }
        runs.append(_measured("sqlite", env))
        print(json.dumps(runs[-1]), flush=True)
    postgres = os.environ.get("BENCH_DATABASE_URL")
    if postgres:
        runs.append(_measured("postgresql", {"DATABASE_URL": postgres, "DEBUG": "False"}))
        print(json.dumps(runs[-1]), flush=True)
    result = {
        "benchmark": "population_build",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "postgresql": "measured" if postgres else "skipped (BENCH_DATABASE_URL not set)",
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2])))
    else:
        main()
