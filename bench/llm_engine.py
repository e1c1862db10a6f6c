"""Benchmark: 1,000 personas × 4 engine steps (analyze, context, experience, participation) through
the LLM backend against the local fake server at 200 ms per answer, 50 requests in flight at once.

The ideal is the server's latency alone: 4,000 calls × 0.2 s / 50 = 16 s; the target is a wall time
within 15 % of it in the embedded default and within 5 % with two workers (`overhead_ratio` =
wall / ideal, against the mode's `target_ratio`). A second run of the same study, population and
config (same seed) is served from the response cache and must send nothing; its target is under
2 s. CPU per call is the engine process's CPU time (user + system) over the calls of the run; the
target is under 1 ms. (The engine made 3 calls a persona until the analyze step came; the figures
of that time were for 3,000 calls and an ideal of 12 s.)

The deployments, each measured in a process of its own with a fresh database:

- ``workers``: the production shape. PostgreSQL, Redis, and one ``celery worker --concurrency 2``
  (two prefork processes, one per core); the run is two chunks of 500 personas, each on one event
  loop with 25 requests in flight (and a quarter more personas under way,
  `studies.pipeline.persona_headroom`), so 50 requests are in flight at once, as the server's own
  count confirms (`server.max_in_flight`). The worker is warmed by a 20-persona run first (a
  long-lived worker has its imports and connection pools ready), and the timed run's wall is from
  ``run_start()`` to the run being seen completed in the database, aggregation included.
- ``embedded`` (the headline figure): no Redis, SQLite, the inline executor, one chunk of 1,000
  personas answered as tasks of one event loop in the bench process (at most 50 requests in
  flight): the platform's default deployment, one process.
- ``large`` and ``large_workers`` (run alone: ``--mode large``): the issue's workload, 10,000
  personas × 4 steps with 200 requests in flight (ideal 40,000 × 0.2 / 200 = 40 s), in the
  embedded default and on the two workers (two chunks of 5,000, 100 in flight each). The embedded
  run has the default chunks (four rounds of 200: 800 personas), spread over the bench process
  and its pool (`studies.lanes`, `RUN_LOCAL_PROCESSES`: two here), 100 in flight in each; the
  pool is started by the first run, so its start is in that run's wall and CPU.
  ``BENCH_LARGE_CHUNK_SIZE`` sets another chunk size (10000: one chunk, so one process).

The machine's 2 cores are shared with other engineers' work: every figure carries the load average
before and after it, and a figure taken under load is an upper bound.

The server runs in its own process; the machine's busy CPU time during each run is read from
/proc/stat. Results go to ``bench/results/llm_engine.json``; the exit status is non-zero when a run
did not complete with every persona and call accounted for (the timing target is recorded, not
enforced).

    .venv/bin/python -m bench.llm_engine                   # workers and embedded, writes the JSON
    .venv/bin/python -m bench.llm_engine --mode workers    # one of them, prints its figures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    bench_environment,
    busy_cpu_seconds,
    children,
    own_peak_memory_mb,
    postgres_cpu_seconds,
    process_cpu_seconds,
    process_memory_mb,
    start_fake_server,
)
from tests.stack import start_celery_worker

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "llm_engine.json"
PERSONAS = 1_000
STEP_NAMES = ("analyze", "context", "experience", "participation")
STEPS = len(STEP_NAMES)
LATENCY_S = 0.2
CONCURRENCY = 50
IDEAL_SECONDS = PERSONAS * STEPS * LATENCY_S / CONCURRENCY
TARGET_RATIO = 1.15  # the embedded default's
TARGET_RATIO_WORKERS = 1.05  # two workers'
TARGET_CPU_MS_PER_CALL = 1.0
TARGET_CACHED_SECONDS = 2.0
# The `large` mode: the embedded default with many more personas and calls in flight.
LARGE_PERSONAS = 10_000
LARGE_CONCURRENCY = 200
AREA = "dallas_tx_city"
WORKER_MODES = ("workers", "large_workers")
# Two prefork processes, one per core; BENCH_WORKER_PROCESSES tries others (5 x 10 threads and
# 10 x 5 measured slower here: 16.7 s and 17.2 s, every process adding its own overhead).
WORKER_PROCESSES = int(os.environ.get("BENCH_WORKER_PROCESSES", 2))
WARMUP_PERSONAS = 20
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def _server_stats(url: str, *, reset: bool = False) -> dict:
    with urllib.request.urlopen(f"{url}/_stats" + ("?reset=1" if reset else "")) as resp:
        return json.loads(resp.read())


def _server_round_trip(url: str, tries: int = 20) -> float:
    """The mean seconds of one call, made alone through the engine's provider adapter: the server's
    latency plus the client's own time, the floor under each of the 3,000 calls."""
    from llm.providers import adapter_for
    from llm.types import LLMConfig

    config = LLMConfig(provider="openai", model="gpt-bench", base_url=f"{url}/v1")
    adapter = adapter_for(config.provider)
    messages = [{"role": "user", "content": "ping"}]
    adapter.send(config=config, api_key="probe", messages=messages, spec=None, seed=None)
    started = time.perf_counter()
    for _ in range(tries):
        adapter.send(config=config, api_key="probe", messages=messages, spec=None, seed=None)
    return (time.perf_counter() - started) / tries


def _setup_environment(mode: str, workdir: Path) -> None:
    bench_environment(workdir)  # DEBUG off: it keeps every query in memory, skewing the peak
    if mode in WORKER_MODES:
        import psycopg
        import redis

        database = f"personalab_bench_llm_{os.getpid()}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
        os.environ["DATABASE_URL"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"
        os.environ["REDIS_URL"] = REDIS_URL
        redis.Redis.from_url(REDIS_URL).flushdb()
    else:
        os.environ["SQLITE_PATH"] = str(workdir / "bench.sqlite3")
    sys.path.insert(0, str(ROOT))


def _drop_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _start_worker(workdir: Path) -> subprocess.Popen:
    return start_celery_worker(
        env=os.environ.copy(),
        log_path=workdir / "worker.log",
        name="bench",
        concurrency=WORKER_PROCESSES,
        # INFO would log every HTTP request of the 3,000 (httpx) into the timed run.
        loglevel="warning",
        options=("--pool=prefork", "--without-heartbeat"),
    )


def _load_data(size: int, seed: int):
    from django.core.management import call_command

    from personas.services import AreaWeight, population_create
    from polls.models import Question
    from studies.services import ItemSpec, OptionSpec, study_create

    with open(os.devnull, "w") as quiet:
        call_command("migrate", verbosity=0, stdout=quiet)
        call_command("load_areas", stdout=quiet)
        call_command(
            "import_poll",
            csv=str(ROOT / "polls" / "data" / "cces2018_abortion.csv"),
            mapping=ROOT / "polls" / "mappings" / "cces2018_abortion.yaml",
            stdout=quiet,
        )
    question = Question.objects.get(poll__slug="cces-2018-abortion")

    def population(n: int, name: str, seed: int):
        return population_create(
            size=n,
            areas=[AreaWeight(AREA)],
            seed=seed,
            name=name,
            include_behavioral_characteristics=True,
        )

    study = study_create(
        title="Employer coverage and a transit levy",
        description="Two questions on health coverage and paying for buses.",
        items=[
            ItemSpec(code="coverage", text=question.text, poll_question_id=question.id),
            ItemSpec(
                code="levy",
                text="Would you vote for a half-cent sales tax to pay for more buses?",
                options=[OptionSpec("yes", "Yes"), OptionSpec("no", "No")],
            ),
        ],
    )
    return study, population(size, "bench-llm", seed), population


def _timed_run(*, study, population, config: dict, chunk_size: int, executor: str):
    """Start a run and return (wall seconds, the finished run): for the inline executor
    `run_start` returns once the run is done; for Celery the database is polled for it."""
    from studies.models import Run
    from studies.services import run_start

    started = time.perf_counter()
    run = run_start(
        study=study,
        population=population,
        backend="llm",
        backend_config=config,
        seed=1,
        chunk_size=chunk_size,
        executor=executor,
    )
    while not Run.objects.filter(id=run.id, status__in=Run.FINISHED).exists():
        time.sleep(0.02)
    wall = time.perf_counter() - started
    return wall, Run.objects.get(id=run.id)


def _latency_figures(run) -> dict:
    """The provider latency the gateway logged per call (send to reply, in the engine)."""
    from llm.models import LLMCall

    values = sorted(
        LLMCall.objects.filter(run_id=run.id, status="ok").values_list("latency_ms", flat=True)
    )
    if not values:
        return {}
    return {
        "mean": round(sum(values) / len(values), 1),
        "p50": values[len(values) // 2],
        "p90": values[int(len(values) * 0.9)],
        "max": values[-1],
    }


def _timeline(run) -> dict:
    """Seconds from the run's creation to: its first chunk starting, the first and the last reply
    logged, and the run finishing (aggregation done)."""
    from django.db.models import Max, Min

    from llm.models import LLMCall

    span = LLMCall.objects.filter(run_id=run.id).aggregate(
        first=Min("created_at"), last=Max("created_at")
    )

    def since(moment):
        return None if moment is None else round((moment - run.created_at).total_seconds(), 2)

    return {
        "chunk_started": since(run.started_at),
        "first_reply": since(span["first"]),
        "last_reply": since(span["last"]),
        "finished": since(run.finished_at),
    }


def _run_figures(run, wall: float) -> dict:
    from django.db.models import Count

    from llm.models import LLMCall

    calls = LLMCall.objects.filter(run_id=run.id)
    by_status = dict(calls.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    by_step = dict(calls.values_list("label").annotate(n=Count("id")).values_list("label", "n"))
    pipeline = None
    if run.started_at and run.finished_at:
        pipeline = (run.finished_at - run.started_at).total_seconds()
    return {
        "run_id": run.id,
        "status": run.status,
        "error_message": run.error_message,
        "wall_seconds": round(wall, 2),
        "started_to_finished_seconds": None if pipeline is None else round(pipeline, 2),
        "personas_done": run.personas_done,
        "personas_failed": run.personas_failed,
        "llm_calls": run.llm_calls,
        "cached_calls": run.cached_calls,
        "calls_by_status": by_status,
        "calls_by_step": by_step,
        "requests_sent_to_server": sum(n for s, n in by_status.items() if s != "cache_hit"),
        "timeline_seconds": _timeline(run),
    }


def _problems(name: str, run, figures: dict, sent: int, personas: int) -> list[str]:
    from studies.models import Run

    expected_calls = personas * STEPS
    problems = []
    if run.status != Run.Status.COMPLETED:
        problems.append(f"{name} run is {run.status}: {run.error_message}")
    if run.personas_done != personas or run.personas_failed:
        problems.append(
            f"{name} run: {run.personas_done} personas done, {run.personas_failed} failed"
        )
    if run.llm_calls != expected_calls:
        problems.append(f"{name} run made {run.llm_calls} calls, not {expected_calls}")
    if figures["requests_sent_to_server"] != sent:
        problems.append(
            f"{name} run sent {figures['requests_sent_to_server']} requests, not {sent}"
        )
    return problems


def measure(mode: str) -> dict:
    """One deployment's figures (run in a process of its own: Django's settings are global)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-llm-{mode}-"))
    _setup_environment(mode, workdir)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    workers = mode in WORKER_MODES
    large = mode in ("large", "large_workers")
    personas = LARGE_PERSONAS if large else PERSONAS
    concurrency = LARGE_CONCURRENCY if large else CONCURRENCY
    ideal = personas * STEPS * LATENCY_S / concurrency
    threads = concurrency // WORKER_PROCESSES if workers else concurrency
    # The large embedded run keeps the default chunk size (four rounds of the engine's
    # concurrency), so its chunks spread over the process and its pool (studies.lanes);
    # BENCH_LARGE_CHUNK_SIZE tries another.
    chunk_size = personas // WORKER_PROCESSES if workers else (None if large else personas)
    if mode == "large" and os.environ.get("BENCH_LARGE_CHUNK_SIZE"):
        chunk_size = int(os.environ["BENCH_LARGE_CHUNK_SIZE"])
    executor = "celery" if workers else "inline"
    server = worker = None
    try:
        study, population, make_population = _load_data(personas, seed=20240601)
        if not workers:
            # The embedded default's web process tunes its collector when it serves its first
            # run on a thread (studies.dispatch), the workers' pool processes when they start.
            from config.collector import tune_collector

            tune_collector()
        server, url = start_fake_server(LATENCY_S)
        config = {
            "llm": {"provider": "openai", "model": "gpt-bench", "seed": 3, "base_url": f"{url}/v1"},
            "engine": {"concurrency": threads},
        }
        round_trip = _server_round_trip(url)
        warmup = None
        if workers:
            worker = _start_worker(workdir)
            warm_population = make_population(WARMUP_PERSONAS, "bench-llm-warmup", 7)
            warm_wall, warm_run = _timed_run(
                study=study,
                population=warm_population,
                config=config,
                chunk_size=WARMUP_PERSONAS // WORKER_PROCESSES,
                executor=executor,
            )
            warmup = {
                "personas": WARMUP_PERSONAS,
                "status": warm_run.status,
                "wall_seconds": round(warm_wall, 2),
            }
        _server_stats(url, reset=True)
        engine_pids = children(worker.pid) if workers else [os.getpid()]
        cpu_before = {pid: process_cpu_seconds(pid) for pid in engine_pids}
        server_cpu_before = process_cpu_seconds(server.pid)
        busy_before = busy_cpu_seconds()
        postgres_before = postgres_cpu_seconds()
        load_before = os.getloadavg()

        def timed_run():  # the same study, population, config and seed each time
            return _timed_run(
                study=study,
                population=population,
                config=config,
                chunk_size=chunk_size,
                executor=executor,
            )

        first_wall, first = timed_run()
        load_after_first = os.getloadavg()
        busy = busy_cpu_seconds() - busy_before
        postgres_cpu = postgres_cpu_seconds() - postgres_before
        if not workers:  # the lanes' pool, started by this run: all of its CPU is the run's
            from studies.lanes import pool_pids

            lanes_pids = pool_pids()
            engine_pids += lanes_pids
            cpu_before.update(dict.fromkeys(lanes_pids, 0.0))
        engine_cpu = {pid: process_cpu_seconds(pid) - cpu_before[pid] for pid in engine_pids}
        server_cpu = process_cpu_seconds(server.pid) - server_cpu_before
        stats_first = _server_stats(url, reset=True)
        cpu_before = {pid: process_cpu_seconds(pid) for pid in engine_pids}
        load_before_cached = os.getloadavg()
        cached_wall, cached = timed_run()
        engine_cpu_cached = {pid: process_cpu_seconds(pid) - cpu_before[pid] for pid in engine_pids}
        load_after_cached = os.getloadavg()
        stats_cached = _server_stats(url, reset=True)
        peaks = {pid: process_memory_mb(pid, "VmHWM") for pid in engine_pids}
        if workers:
            peaks[os.getpid()] = own_peak_memory_mb()
        first_figures = _run_figures(first, first_wall)
        cached_figures = _run_figures(cached, cached_wall)
        problems = _problems("first", first, first_figures, personas * STEPS, personas)
        problems += _problems("cached", cached, cached_figures, 0, personas)
        if stats_first["max_in_flight"] > concurrency:
            problems.append(
                f"{stats_first['max_in_flight']} requests were in flight at once, "
                f"above the {concurrency} allowed"
            )
        if stats_cached["requests"]:
            problems.append(
                f"the cached re-run reached the server {stats_cached['requests']} times"
            )
        ratio = first_wall / ideal
        target_ratio = TARGET_RATIO_WORKERS if workers else TARGET_RATIO
        calls = personas * STEPS
        cpu_per_call_ms = sum(engine_cpu.values()) / calls * 1000
        cpu_per_call_cached_ms = sum(engine_cpu_cached.values()) / calls * 1000
        return {
            "mode": mode,
            "deployment": (
                f"celery worker --concurrency {WORKER_PROCESSES} (prefork), PostgreSQL, Redis; "
                f"{WORKER_PROCESSES} chunks of {chunk_size} personas, each on one event loop "
                f"with {threads} in flight; collector tuned in each pool process (config.collector)"
                if workers
                else f"embedded default (SQLite, no Redis), inline executor, chunks of "
                f"{first.chunk_size} personas over {max(1, len(engine_pids))} process(es) "
                f"(studies.lanes), each chunk as tasks of one event loop, {threads} in flight "
                "in all; collector tuned after loading, as the web process is (config.collector)"
            ),
            "personas": personas,
            "calls": calls,
            "concurrency": concurrency,
            "ideal_seconds": ideal,
            "wall_seconds": round(first_wall, 2),
            "overhead_ratio": round(ratio, 3),
            "target_ratio": target_ratio,
            "target_met": ratio <= target_ratio,
            "cpu_per_call_ms": {
                "first_run": round(cpu_per_call_ms, 3),
                "cached_rerun": round(cpu_per_call_cached_ms, 3),
                "target_met": cpu_per_call_ms < TARGET_CPU_MS_PER_CALL,
                "note": "the engine processes' CPU time (user + system, /proc/<pid>/stat; all "
                "of them in workers mode) over the run's calls",
            },
            "cached_rerun_target_met": cached_wall < TARGET_CACHED_SECONDS,
            "load_average": {
                "before_first_run": [round(x, 2) for x in load_before],
                "after_first_run": [round(x, 2) for x in load_after_first],
                "before_cached_rerun": [round(x, 2) for x in load_before_cached],
                "after_cached_rerun": [round(x, 2) for x in load_after_cached],
                "note": "os.getloadavg() (1, 5, 15 min) on a 2-core machine shared with other "
                "engineers' tests and benchmarks",
            },
            "first_run": first_figures,
            "cached_rerun": cached_figures,
            "server": {
                "requests_first_run": stats_first["requests"],
                "max_in_flight_first_run": stats_first["max_in_flight"],
                "mean_handling_ms_first_run": stats_first["mean_handling_ms"],
                "requests_cached_rerun": stats_cached["requests"],
                "cpu_seconds_first_run": round(server_cpu, 2),
                "round_trip_seconds_alone": round(round_trip, 4),
            },
            "latency_of_calls_ms": _latency_figures(first),
            "cpu_first_run": {
                "engine_processes_seconds": [round(v, 2) for v in engine_cpu.values()],
                "engine_processes_seconds_cached_rerun": [
                    round(v, 2) for v in engine_cpu_cached.values()
                ],
                "postgres_seconds": round(postgres_cpu, 2) if workers else None,
                "machine_busy_seconds": round(busy, 2),
                "machine_capacity_seconds": round(first_wall * (os.cpu_count() or 1), 2),
                "note": "machine_busy is every process (engine, server, database, Redis) on all "
                "cores, from /proc/stat; capacity is wall x cores",
            },
            "peak_memory_mb": {
                "per_process": [round(v, 1) for v in peaks.values()],
                "max": round(max(peaks.values()), 1),
                "note": "VmHWM of each engine process (and ru_maxrss of the bench process that "
                "starts the runs, in workers mode)",
            },
            "warmup": warmup,
            "load_average_before_first_run": [round(x, 2) for x in load_before],
            "database": (
                f"PostgreSQL {connection.pg_version // 10000}"
                if connection.vendor == "postgresql"
                else f"SQLite {connection.Database.sqlite_version} (fresh file, WAL)"
            ),
            "database_engine": settings.DATABASES["default"]["ENGINE"],
            "problems": problems,
        }
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        _drop_database()


MODES = ("workers", "embedded", "large", "large_workers")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, help="measure one, print its figures")
    parser.add_argument(
        "--modes",
        default="workers,embedded",
        help="comma-separated modes to measure into the JSON (default: workers,embedded)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the JSON's figures of the modes not measured now",
    )
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode)), flush=True)
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    previous = json.loads(RESULT.read_text()) if args.update and RESULT.exists() else {}
    figures = {m: previous[m] for m in MODES if m in previous and m not in modes}
    for mode in modes:
        print(f"-- llm_engine: {mode}", flush=True)
        out = subprocess.run(
            [sys.executable, "-m", "bench.llm_engine", "--mode", mode],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        if out.returncode:
            print(out.stdout, file=sys.stderr)
            return out.returncode
        figures[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        figures[mode]["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    headline = "embedded" if "embedded" in figures else next(iter(figures))
    head = figures[headline]
    problems = [f"{mode}: {p}" for mode, f in figures.items() for p in f["problems"]]
    result = {
        "benchmark": "llm_engine",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "workload": {
            "personas": PERSONAS,
            "steps": list(STEP_NAMES),
            "calls": PERSONAS * STEPS,
            "server_latency_seconds": LATENCY_S,
            "concurrency": CONCURRENCY,
            "items": 2,
            "area": AREA,
            "behavioural_profile": True,
            "wall_measured": "run_start() until the run is completed (pre-run cost estimate, "
            "every chunk and the final aggregation included)",
            "large": f"{LARGE_PERSONAS} personas, {LARGE_CONCURRENCY} in flight (modes large and "
            "large_workers)",
        },
        "ideal_seconds": IDEAL_SECONDS,
        "target_ratio": TARGET_RATIO,
        "target_cpu_ms_per_call": TARGET_CPU_MS_PER_CALL,
        "target_cached_rerun_seconds": TARGET_CACHED_SECONDS,
        "headline": headline,
        "wall_seconds": head["wall_seconds"],
        "overhead_ratio": head["overhead_ratio"],
        "target_met": head["target_met"],
        "cpu_per_call_ms": head["cpu_per_call_ms"]["first_run"],
        "cached_rerun_seconds": head["cached_rerun"]["wall_seconds"],
        "peak_memory_mb": head["peak_memory_mb"]["max"],
        **figures,
        "rate_limits": "LLM_*_CONCURRENCY/RPM/TPM cleared: no limiter in force; the engine's "
        "concurrency (requests in flight on each chunk's loop, llm.aio.Session.request_slot) is "
        "the only bound on requests in flight",
        "server": "tests/llm/fake_llm_server.py main() in its own process, persona_responder "
        "answers, served from one event loop (aiohttp) since 2026-12-07; a thread per "
        "connection before",
        "shared_machine": "2 cores shared with other engineers working at the same time; see "
        "each mode's load_average",
        "correct": not problems,
        "problems": problems,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
