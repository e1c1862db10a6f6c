"""Benchmark: how fast the web tier answers the two hot read endpoints, with a bounded load test.

The production shape is started for real: PostgreSQL (a fresh database on the server of
``BENCH_DATABASE_URL``), Redis (cache, throttles, channel layer) and the web server as the compose
file runs it (``uvicorn config.asgi:application --workers 2``: two processes, one per core, each
answering HTTP through Django's WSGI handler on ``WEB_THREADS`` threads; set WEB_THREADS in the
environment to compare). The database gets the real
areas (``load_areas``), the CCES 2018 abortion poll and one completed poll-model run per client
user, each user with a token of their own. Then `wrk` (installed with apt-get when missing) drives,
for a bounded time each and at 8 concurrent connections:

- ``environmental_context``: ``GET /api/v1/environmental/context/{id}/`` over a rotation of areas;
- ``run_results``: ``GET /api/v1/runs/{id}/results/``, each request with one user's token and that
  user's own run (8 users, round robin).

Every response must be a 200 (non-2xx are counted and fail the bench); before the load each
(token, run) pair is checked to answer its own run and a 404 for another user's. Recorded: requests
per second, p50/p90/p99 latency (wrk's own, per request), the CPU seconds the web processes used
per request, and the machine's load average before and after (the 2 cores are shared with other
engineers' work while this runs, so the figures are a floor of what a quiet machine does).

Because the machine is shared, the CPU a request costs is also measured apart from the load test
(``in_process``): 2,000 sequential requests per endpoint through the ASGI application called in
this process (no HTTP server, no network), by the production entry (``config.asgi``) and by
Django's own ASGI handler (the previous shape), as process CPU time.

The per-user rate limit (``API_RATE_USER``, 1200/min by default) would refuse a load test from 8
users at hundreds of requests a second, so it is raised for the bench to the rate in
``THROTTLE_RATE``; the throttle itself still runs on every request (its counter is in Redis).

    .venv/bin/python -m bench.serve                       # uvicorn x 2, writes bench/results/serve.json
    WEB_THREADS=8 .venv/bin/python -m bench.serve --output /tmp/t8.json   # another thread count
    .venv/bin/python -m bench.serve --server daphne       # one daphne process (the old setup), prints
    .venv/bin/python -m bench.serve --seconds 5           # shorter runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.common import busy_cpu_seconds, process_cpu_seconds, process_tree

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "serve.json"
BIN = Path(sys.executable).parent
BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/personalab_bench"
)
REDIS_URL = os.environ.get("BENCH_SERVE_REDIS_URL", "redis://127.0.0.1:6379/14")
CLIENTS = 8
WEB_PROCESSES = 2
SECONDS = 15
THROTTLE_RATE = "1000/s"
TARGET_RPS = 500
TARGET_P99_MS = 50
# Areas of every kind (cities, counties, states) the context requests rotate over.
CONTEXT_AREAS = [
    "dallas_tx_city",
    "detroit_mi_city",
    "minneapolis_mn_city",
    "phoenix_az_city",
    "wayne_mi_county",
    "texas_state",
    "michigan_state",
    "arizona_state",
]
RUN_AREAS = ["dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city"]
RUN_PERSONAS = 240

# wrk's Lua: each request is the next (path, token) pair, round robin per thread; at the end the
# summary and wrk's latency percentiles (microseconds) are printed as one JSON line.
WRK_SCRIPT = """
local pairs_ = __PAIRS__
local i = 0
function request()
  i = i + 1
  local p = pairs_[(i % #pairs_) + 1]
  return wrk.format("GET", p[1], {["Authorization"] = "Token " .. p[2], ["Host"] = "127.0.0.1"})
end
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx":%d,"connect_errors":%d,"read_errors":%d,'
    .. '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk could not be installed (apt-get install -y wrk)")
    return found


def _database_urls() -> tuple[str, str, str]:
    """(admin URL, this bench's database URL, its name): a database of its own on the server of
    BENCH_DATABASE_URL, so the other benchmarks' data is left alone."""
    base, name = BENCH_DATABASE_URL.rsplit("/", 1)
    database = f"{name}_serve"
    return f"{base}/postgres", f"{base}/{database}", database


def _setup_environment(workdir: Path) -> dict[str, str]:
    import psycopg
    import redis

    admin, url, database = _database_urls()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "RUN_EXECUTOR", "SQLITE_PATH"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        PERSONALAB_VAR_DIR=str(workdir),
        SECRET_KEY="bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=url,
        REDIS_URL=REDIS_URL,
        # Plain HTTP on the loopback: no proxy in front to terminate TLS.
        SECURE_SSL_REDIRECT="false",
        API_RATE_USER=THROTTLE_RATE,
        DATABASE_POOL="true",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    return env


def _drop_database() -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    admin, _url, database = _database_urls()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _load_data() -> list[tuple[str, int]]:
    """Reference data, CLIENTS users with a token each and one completed run per user; returns
    [(token, run id)]."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from accounts.models import Token
    from personas.services import AreaWeight, population_create
    from polls.models import Question
    from studies.models import Run
    from studies.services import ItemSpec, run_start, study_create

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
    clients = []
    for n in range(CLIENTS):
        user = User.objects.create_user(f"bench-client-{n}", password=uuid.uuid4().hex)
        token = Token.objects.create(user=user)
        population = population_create(
            size=RUN_PERSONAS,
            areas=[AreaWeight(a) for a in RUN_AREAS],
            seed=100 + n,
            name=f"bench-serve-{n}",
            created_by=user,
        )
        study = study_create(
            title="Employer coverage",
            items=[ItemSpec(code="coverage", text=question.text, poll_question_id=question.id)],
            created_by=user,
        )
        run = run_start(
            study=study,
            population=population,
            backend="poll_model",
            backend_config={},
            seed=n,
            chunk_size=RUN_PERSONAS,
            executor="inline",
            created_by=user,
        )
        run = Run.objects.get(id=run.id)
        if run.status != Run.Status.COMPLETED or run.results is None:
            raise RuntimeError(f"bench run {run.id} did not complete: {run.error_message}")
        clients.append((token.key, run.id))
    return clients


def _start_server(
    kind: str, env: dict[str, str], port: int, log: Path, app: str
) -> subprocess.Popen:
    if kind == "uvicorn":
        command = [
            str(BIN / "uvicorn"),
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WEB_PROCESSES),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    else:
        command = [
            str(BIN / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=2):
                return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"{kind} did not answer /healthz/ within 60 s:\n{log.read_text()}")


def _get(port: int, path: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _check(port: int, clients: list[tuple[str, int]]) -> list[str]:
    """Each endpoint answers correctly before it is loaded (and warms each process's cache)."""
    problems = []
    for n, (token, run_id) in enumerate(clients):
        status, body = _get(port, f"/api/v1/runs/{run_id}/results/", token)
        if status != 200 or "items" not in json.loads(body):
            problems.append(f"run {run_id} results for its owner: {status} {body[:200]!r}")
        other_run = clients[(n + 1) % len(clients)][1]
        status, _ = _get(port, f"/api/v1/runs/{other_run}/results/", token)
        if status != 404:
            problems.append(f"another user's run {other_run} answered {status}, not 404")
    for area in CONTEXT_AREAS:
        status, body = _get(port, f"/api/v1/environmental/context/{area}/", clients[0][0])
        if status != 200 or json.loads(body).get("area_id") != area:
            problems.append(f"context of {area}: {status} {body[:200]!r}")
    return problems


IN_PROCESS_REQUESTS = 2000


async def _asgi_get(application, path: str, token: str) -> int:
    """One GET through an ASGI application, in this process, as a server calls it; returns the
    status (the body is dropped)."""
    import asyncio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Token {token}".encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0
    sent = False
    never = asyncio.get_running_loop().create_future()

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never  # no disconnect: the handler's listener just waits
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await application(scope, receive, send)
    return status


def measure_in_process(clients: list[tuple[str, int]], requests: int = IN_PROCESS_REQUESTS) -> dict:
    """CPU per request of the application alone (no HTTP server, no network), for both endpoints
    and both ways into Django: the production entry (`config.asgi`, HTTP through the WSGI handler
    on a2wsgi's thread pool) and Django's own ASGI handler (the previous shape). Process CPU time
    (every thread of this process) over `requests` sequential requests on one event loop after a
    warm-up: the cost of a request however busy the machine's other cores are."""
    import asyncio

    from django.core.asgi import get_asgi_application

    from config.asgi import application as production

    entries = {"wsgi_via_a2wsgi": production, "django_asgi_handler": get_asgi_application()}
    paths = {
        "environmental_context": [
            (f"/api/v1/environmental/context/{area}/", clients[i % CLIENTS][0])
            for i, area in enumerate(CONTEXT_AREAS)
        ],
        "run_results": [(f"/api/v1/runs/{run}/results/", token) for token, run in clients],
    }

    async def run(app, pairs: list[tuple[str, str]]) -> dict:
        for path, token in pairs:  # warm: caches filled, code paths loaded
            if (status := await _asgi_get(app, path, token)) != 200:
                raise RuntimeError(f"{path}: {status}")
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        for n in range(requests):
            path, token = pairs[n % len(pairs)]
            await _asgi_get(app, path, token)
        cpu = time.process_time() - cpu_before
        wall = time.perf_counter() - wall_before
        return {
            "cpu_ms_per_request": round(cpu * 1000 / requests, 3),
            "wall_ms_per_request": round(wall * 1000 / requests, 3),
        }

    figures: dict = {}
    for endpoint, pairs in paths.items():
        for entry_name, app in entries.items():
            figures.setdefault(endpoint, {})[entry_name] = asyncio.run(run(app, pairs))
    return {
        "requests": requests,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "endpoints": figures,
    }


def _load(wrk: str, port: int, pairs: list[tuple[str, str]], seconds: int, workdir: Path) -> dict:
    lua = ", ".join(f'{{"{path}", "{token}"}}' for path, token in pairs)
    script = workdir / f"wrk-{uuid.uuid4().hex[:6]}.lua"
    script.write_text(WRK_SCRIPT.replace("__PAIRS__", "{" + lua + "}"))
    out = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{CLIENTS}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    return summary


def measure(kind: str, seconds: int, app: str = "config.asgi:application") -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = _setup_environment(workdir)
    import django
    from django.conf import settings

    django.setup()
    wrk = _wrk()
    server = None
    try:
        started = time.perf_counter()
        clients = _load_data()
        load_seconds = time.perf_counter() - started
        port = free_port()
        server = _start_server(kind, env, port, workdir / "server.log", app)
        problems = _check(port, clients)
        endpoints = {
            "environmental_context": [
                (f"/api/v1/environmental/context/{area}/", clients[i % CLIENTS][0])
                for i, area in enumerate(CONTEXT_AREAS)
            ],
            "run_results": [(f"/api/v1/runs/{run}/results/", token) for token, run in clients],
        }
        figures = {}
        for name, pairs in endpoints.items():
            pids = process_tree(server.pid)
            cpu_before = sum(process_cpu_seconds(p) for p in pids)
            busy_before = busy_cpu_seconds()
            load_before = os.getloadavg()
            summary = _load(wrk, port, pairs, seconds, workdir)
            cpu = sum(process_cpu_seconds(p) for p in pids) - cpu_before
            busy = busy_cpu_seconds() - busy_before
            load_after = os.getloadavg()
            wall = summary["duration_us"] / 1e6
            rps = summary["requests"] / wall
            errors = sum(
                summary[k]
                for k in ("non_2xx", "connect_errors", "read_errors", "write_errors", "timeouts")
            )
            if errors:
                problems.append(f"{name}: {errors} failed requests ({summary})")
            figures[name] = {
                "requests": summary["requests"],
                "seconds": round(wall, 2),
                "requests_per_second": round(rps, 1),
                "latency_ms": {
                    "p50": round(summary["p50_us"] / 1000, 2),
                    "p90": round(summary["p90_us"] / 1000, 2),
                    "p99": round(summary["p99_us"] / 1000, 2),
                    "max": round(summary["max_us"] / 1000, 2),
                    "mean": round(summary["mean_us"] / 1000, 2),
                },
                "failed_requests": errors,
                "web_cpu_ms_per_request": round(cpu * 1000 / max(summary["requests"], 1), 2),
                "machine_busy_cores": round(busy / wall, 2),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in load_after],
                "target_met": rps >= TARGET_RPS and summary["p99_us"] / 1000 < TARGET_P99_MS,
            }
        in_process = measure_in_process(clients)
        return {
            "server": kind,
            "app": app,
            "web_processes": WEB_PROCESSES if kind == "uvicorn" else 1,
            "web_threads": settings.WEB_THREADS,
            "data_load_seconds": round(load_seconds, 1),
            "endpoints": figures,
            "in_process": in_process,
            "problems": problems,
        }
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        _drop_database()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--seconds", type=int, default=SECONDS)
    parser.add_argument("--app", default="config.asgi:application", help="the ASGI application")
    parser.add_argument("--output", type=Path, default=RESULT, help="where the JSON goes")
    args = parser.parse_args()
    figures = measure(args.server, args.seconds, args.app)
    result = {
        "benchmark": "serve",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "workload": {
            "clients": CLIENTS,
            "tool": "wrk -t2 -c8 (one connection per client, keep-alive), a Lua script rotating "
            "(path, token) pairs",
            "seconds_per_endpoint": args.seconds,
            "users": CLIENTS,
            "context_areas": CONTEXT_AREAS,
            "run_personas": RUN_PERSONAS,
            "api_rate_user": THROTTLE_RATE,
            "database": "PostgreSQL (fresh database), Redis cache",
        },
        "target": {"requests_per_second": TARGET_RPS, "p99_ms": TARGET_P99_MS},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "shared": "the machine's 2 cores are shared with other engineers' work while this "
            "runs; the load average before and after each endpoint is recorded with its figures, "
            "and wrk itself runs on the same cores",
        },
        **figures,
    }
    if args.server == "uvicorn":
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.output}")
    print(json.dumps(result, indent=2))
    return 1 if figures["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
