"""Benchmark: an offline (poll-model) run of one item, and the aggregation of its results.

In a child process against a fresh SQLite database (and, when ``BENCH_DATABASE_URL`` is set, that
PostgreSQL database): load the areas and the CCES 2018 poll, draw a population, start a one-item
``poll_model`` run with the ``caller`` executor and time its chunks in this one worker process
(personas/s), then time ``run_results_compute`` over the stored answers (every breakdown, the
model estimate, the quality report). Stored bytes per persona are measured from the database: the
answer and run-persona rows' text and JSON columns, and (SQLite) the growth of the database file.

    .venv/bin/python -m bench.offline_run                 # 100,000 personas
    .venv/bin/python -m bench.offline_run 20000           # another size
    BENCH_OFFLINE_SIZE=1000000 .venv/bin/python -m bench.offline_run   # 1M personas
    BENCH_PROFILE=/tmp/results.prof ...                   # a cProfile of the results step

Results go to ``bench/results/offline_run.json`` with the machine's load average beside them.
"""

from __future__ import annotations

import cProfile
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import own_peak_memory_mb, postgres_cpu_seconds, worker_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "offline_run.json"
SIZE = 100_000
AREAS = ("dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city")
TARGET = {"personas_per_second": 20_000, "results_seconds_per_million_answers": 5.0}


def _stored_bytes(run_id: int) -> dict[str, int]:
    """Octets of the text and JSON columns of the run's answers and run-persona records."""
    from django.db import connection

    from studies.models import Answer, RunPersona

    def total(model, columns: list[str]) -> int:
        quote = connection.ops.quote_name
        if connection.vendor == "postgresql":
            parts = " + ".join(f"coalesce(octet_length({quote(c)}::text), 0)" for c in columns)
        else:
            parts = " + ".join(f"coalesce(length(CAST({quote(c)} AS BLOB)), 0)" for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT coalesce(sum({parts}), 0) FROM {quote(model._meta.db_table)} "
                "WHERE run_id = %s",
                [run_id],
            )
            return int(cursor.fetchone()[0])

    return {
        "answer_text_json": total(
            Answer, ["choices", "text", "condition", "reasoning", "think_aloud", "probabilities"]
        ),
        "run_persona_text_json": total(
            RunPersona,
            ["failure", "profile", "context", "consistency", "experience", "response"],
        ),
    }


def _database_bytes() -> int | None:
    from django.db import connection

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA freelist_count")
            free = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            return (pages - free) * cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('studies_answer') + "
            "pg_total_relation_size('studies_runpersona')"
        )
        return int(cursor.fetchone()[0])


def _worker(size: int, database: str) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from personas.models import Population
    from personas.services import AreaWeight, population_create
    from polls.models import Question
    from studies.models import Study
    from studies.pipeline import run_chunks, run_finalize, run_process_chunk
    from studies.results import run_results_compute
    from studies.services import ItemSpec, run_start, study_create

    class Quiet:
        def progress(self, **kw):
            pass

        def completion(self, **kw):
            pass

        def error(self, **kw):
            pass

    with open(os.devnull, "w") as quiet:
        call_command("migrate", verbosity=0, stdout=quiet)
        call_command("load_areas", stdout=quiet)
        if not Question.objects.filter(poll__slug="cces-2018-abortion").exists():
            call_command(
                "import_poll",
                csv=str(ROOT / "polls" / "data" / "cces2018_abortion.csv"),
                mapping=str(ROOT / "polls" / "mappings" / "cces2018_abortion.yaml"),
                stdout=quiet,
            )
    settings.POPULATION_MAX_SIZE = max(settings.POPULATION_MAX_SIZE, size)
    user, _ = get_user_model().objects.get_or_create(username="bench-offline")
    question = Question.objects.filter(poll__slug="cces-2018-abortion").first()
    population = population_create(
        size=size,
        areas=[AreaWeight(a) for a in AREAS],
        seed=20240601,
        name="bench",
        created_by=user,
    )
    study = study_create(
        created_by=user,
        title="bench offline",
        items=[ItemSpec(code="coverage", text=question.text, poll_question_id=question.id)],
    )
    bytes_before = _database_bytes()
    run = run_start(
        study=study, population=population, seed=7, backend="poll_model", executor="caller"
    )
    # The model is fitted (or read from its store) once per question: fit it before the clock.
    from studies.backends.registry import BACKENDS

    BACKENDS["poll_model"](run, list(study.items.select_related("poll_question__poll")))
    reporter = Quiet()
    chunks = run_chunks(run=run)
    postgres = database == "postgresql"
    database_cpu_started = postgres_cpu_seconds() if postgres else 0.0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for start, end in chunks:
        run_process_chunk(run_id=run.id, start=start, end=end, reporter=reporter)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    database_cpu = postgres_cpu_seconds() - database_cpu_started if postgres else None
    run_finalize(run_id=run.id, reporter=reporter)
    run.refresh_from_db()
    profile_path = os.environ.get("BENCH_PROFILE")  # a cProfile of the results, to attack
    profiler = cProfile.Profile() if profile_path else None
    results_started = time.perf_counter()
    results_cpu_started = time.process_time()
    if profiler is not None:
        profiler.enable()
    results = run_results_compute(run=run)
    results_wall = time.perf_counter() - results_started
    # This process's CPU for the results (the SQLite reads included): on a shared machine the
    # wall time is mostly waiting for a core.
    results_cpu = time.process_time() - results_cpu_started
    load_at_results = [round(x, 2) for x in os.getloadavg()]
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    stored = _stored_bytes(run.id)
    bytes_after = _database_bytes()
    answered = results["personas_answered"]
    out = {
        "database": database,
        "personas": size,
        "items": 1,
        "chunk_size": run.chunk_size,
        "chunks": len(chunks),
        "status": run.status,
        "personas_answered": answered,
        "run_wall_seconds": round(wall, 2),
        "run_cpu_seconds": round(cpu, 2),
        # Every PostgreSQL process's CPU over the run (SQLite's work is in run_cpu_seconds).
        "run_database_cpu_seconds": None if database_cpu is None else round(database_cpu, 2),
        "personas_per_second": round(size / wall),
        "results_seconds": round(results_wall, 2),
        "results_cpu_seconds": round(results_cpu, 2),
        "load_average_at_results": load_at_results,
        "results_breakdowns": sorted(results["items"][0].get("breakdowns", {})),
        "stored_text_json_bytes_per_persona": round(sum(stored.values()) / size, 1),
        "stored_text_json_bytes": stored,
        "database_bytes_per_persona": (
            round((bytes_after - bytes_before) / size, 1) if bytes_after is not None else None
        ),
        "peak_rss_mb": round(own_peak_memory_mb(), 1),
        "meets_target": size / wall >= TARGET["personas_per_second"]
        and results_wall * 1_000_000 / size < TARGET["results_seconds_per_million_answers"],
    }
    if database == "postgresql":
        Study.objects.filter(pk=study.pk).delete()  # its runs and answers with it
        Population.objects.filter(pk=population.pk).delete()
    return out


def _run(size: int, database: str, env: dict[str, str]) -> dict:
    measured = worker_run("bench.offline_run", str(size), database, env=env)
    if "error" in measured:
        return {"database": database, "personas": size, **measured}
    return measured


def main(size: int = int(os.environ.get("BENCH_OFFLINE_SIZE", SIZE))) -> dict:
    runs = []
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-offline-") as tmp:
        env = {
            "SQLITE_PATH": str(Path(tmp) / "bench.sqlite3"),
            "DATABASE_URL": "",
            "DEBUG": "False",
        }
        runs.append(_run(size, "sqlite", env))
    print(json.dumps(runs[-1]), flush=True)
    postgres = os.environ.get("BENCH_DATABASE_URL")
    if postgres:
        runs.append(_run(size, "postgresql", {"DATABASE_URL": postgres, "DEBUG": "False"}))
        print(json.dumps(runs[-1]), flush=True)
    result = {
        "benchmark": "offline_run",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "target": TARGET,
        "postgresql": "measured" if postgres else "skipped (BENCH_DATABASE_URL not set)",
        "runs": runs,
    }
    # Earlier measurements stay beside the new ones (a 1M run is not re-made by `make bench`).
    previous = json.loads(RESULTS.read_text()).get("runs", []) if RESULTS.exists() else []
    stamp = {
        "measured_at": result["measured_at"],
        "load_average_before": load_before,
        "load_average_after": result["load_average_after"],
    }
    result["runs"] = [*previous, *({**r, **stamp} for r in runs)]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(int(sys.argv[2]), sys.argv[3])))
    elif len(sys.argv) == 2:
        main(int(sys.argv[1]))
    else:
        main()
