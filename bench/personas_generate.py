"""Benchmark: generating 100,000 and 1,000,000 personas (wall time and peak memory).

Each measurement runs in its own Python process against a fresh SQLite database (and, when
``BENCH_DATABASE_URL`` is set, against that PostgreSQL database), so one run's memory high-water
mark and caches never flatter the next. Results go to ``bench/results/personas_generate.json``.

    .venv/bin/python -m bench.personas_generate
    .venv/bin/python -m bench.personas_generate profile   # only 1,000,000 with full profiles

Each run records when it was measured and the machine's load average (os.getloadavg) before and
after it; a partial re-measurement replaces only its own runs in the JSON.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import own_peak_memory_mb, worker_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "personas_generate.json"
SIZES = (100_000, 1_000_000)
AREAS = ("dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city")
# Issue 19: a million personas with full profiles under 40 s on SQLite and PostgreSQL, under 1 GB.
TARGET = {"personas": 1_000_000, "wall_seconds": 40, "peak_memory_mb": 1024}


def _worker(size: int, database: str, profile: bool) -> dict:
    """Runs inside the child process: set up the database, then time one generation."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from personas.models import Population
    from personas.services import AreaWeight, population_create

    with open(os.devnull, "w") as quiet:
        call_command("migrate", verbosity=0, stdout=quiet)
        call_command("load_areas", stdout=quiet)
    settings.POPULATION_MAX_SIZE = max(settings.POPULATION_MAX_SIZE, size)
    baseline = own_peak_memory_mb()
    cpu_started = time.process_time()
    started = time.perf_counter()
    population = population_create(
        size=size,
        areas=[AreaWeight(a) for a in AREAS],
        seed=20240601,
        name="bench",
        include_behavioral_characteristics=profile,
    )
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak = own_peak_memory_mb()
    stored = population.personas.count()
    report = population.validation_report["overall"]
    if database == "postgresql":
        Population.objects.filter(pk=population.pk).delete()  # leave the shared database as found
    return {
        "database": database,
        "personas": size,
        "with_profile": profile,
        "stored": stored,
        "areas": list(AREAS),
        "wall_seconds": round(wall, 2),
        # This process's CPU (drawing, JSON, sending rows); the database server's is not in it.
        "cpu_seconds": round(cpu, 2),
        "personas_per_second": round(size / wall),
        "peak_rss_mb": round(peak, 1),
        "rss_before_generation_mb": round(baseline, 1),
        "max_abs_deviation_points": report["max_abs_deviation_points"],
        "meets_target": size < TARGET["personas"]
        or (wall < TARGET["wall_seconds"] and peak < TARGET["peak_memory_mb"]),
    }


def _run(size: int, database: str, env: dict[str, str], profile: bool = False) -> dict:
    args = (str(size), database, "profile" if profile else "plain")
    measured = worker_run("bench.personas_generate", *args, env=env)
    if "error" in measured:
        return {"database": database, "personas": size, "with_profile": profile, **measured}
    return measured


def _measured(size: int, database: str, env: dict[str, str], profile: bool) -> dict:
    load_before = [round(x, 2) for x in os.getloadavg()]
    run = _run(size, database, env, profile)
    return {
        **run,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(only_profile: bool = False) -> dict:
    """Measure every size on a fresh SQLite database (and PostgreSQL if configured)."""
    runs = []
    # Demographics only at both sizes, then the full profile (behavioural characteristics, Big
    # Five, occupation, tech, names) at the target size.
    plan = [(size, False) for size in SIZES] + [(SIZES[-1], True)]
    if only_profile:
        plan = [(SIZES[-1], True)]
    for size, profile in plan:
        with tempfile.TemporaryDirectory(prefix="bench-personas-") as tmp:
            env = {
                "SQLITE_PATH": str(Path(tmp) / "bench.sqlite3"),
                "DATABASE_URL": "",
                "DEBUG": "False",
            }
            runs.append(_measured(size, "sqlite", env, profile))
        print(json.dumps(runs[-1]), flush=True)
    postgres = os.environ.get("BENCH_DATABASE_URL")
    if postgres:
        for size, profile in plan:
            env = {"DATABASE_URL": postgres, "DEBUG": "False"}
            runs.append(_measured(size, "postgresql", env, profile))
            print(json.dumps(runs[-1]), flush=True)
    # Runs not measured this time are kept as they were.
    measured = {(r["database"], r["personas"], r["with_profile"]) for r in runs}
    if RESULTS.exists():
        earlier = json.loads(RESULTS.read_text())
        kept = [
            r
            for r in earlier.get("runs", [])
            if (r["database"], r["personas"], r["with_profile"]) not in measured
        ]
        for r in kept:  # runs from before per-run dates carry their file's date
            r.setdefault("measured_at", earlier.get("measured_at"))
        runs = kept + runs
    result = {
        "benchmark": "personas_generate",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "target": TARGET,
        "postgresql": "measured" if postgres else "skipped (BENCH_DATABASE_URL not set)",
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(int(sys.argv[2]), sys.argv[3], sys.argv[4] == "profile")))
    else:
        main(only_profile=sys.argv[1:] == ["profile"])
