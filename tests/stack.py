"""A real running platform for integration and browser tests.

`Stack` starts the processes a deployment has — the web server as production runs it (uvicorn,
`config.asgi`: HTTP through Django's WSGI handler on a thread pool, WebSockets through Channels)
and, on real infrastructure, a Celery worker — against a fresh database loaded with real areas and a poll, and
talks to them only over HTTP and WebSockets, as clients do.

- ``services``: PostgreSQL (a fresh database) + Redis (broker, result backend, channel layer) +
  a `celery worker` process + uvicorn with two web processes.
- ``embedded``: no DATABASE_URL and no REDIS_URL: SQLite in a temporary folder, runs on a background
  thread of the one uvicorn process, progress over the in-memory layer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import redis
import requests
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
POLL_ROWS = 12_000  # a real subset of CCES 2018 keeps the stack's start-up short
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_celery_worker(
    *,
    env: dict[str, str],
    log_path: Path,
    name: str,
    concurrency: int,
    loglevel: str = "info",
    options: Sequence[str] = (),
    timeout_s: float = 90,
) -> subprocess.Popen:
    """Start `celery -A config worker` from the repository root with `env` (its REDIS_URL is the
    broker) and return once the worker answers a ping through that broker, its pool started and
    its consumer running. Output goes to `log_path`. Used by the integration stack and by
    `bench.llm_engine`; the ping, unlike the " ready." log line, works at any log level."""
    nodename = f"{name}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    process = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            f"--loglevel={loglevel}",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "-n",
            nodename,
            *options,
        ],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    # Not the current app: this process (the bench) goes on dispatching runs with the real one.
    probe = Celery(broker=env["REDIS_URL"], set_as_current=False)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("celery worker exited:\n" + log_path.read_text())
            if probe.control.ping(destination=[nodename], timeout=0.5):
                return process
    finally:
        probe.close()
    process.terminate()
    raise RuntimeError("celery worker did not become ready:\n" + log_path.read_text())


@dataclass
class Stack:
    mode: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)
    database: str = ""
    port: int = 0
    token: str = ""
    username: str = "it-admin"
    password: str = "it-password-12345"
    # The servers it uses: the machine's by default, or ones a fault test owns (OwnPostgres...).
    pg_admin_url: str = PG_ADMIN_URL
    redis_url: str = REDIS_BASE_URL
    extra_env: dict[str, str] = field(default_factory=dict)
    # A stack only prepared (same mode) whose database this one copies instead of loading again.
    seed: Stack | None = None
    # uvicorn processes; None: two in services mode (as production), one in embedded mode.
    web_processes: ClassVar[int | None] = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def api(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        return session

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Stack:
        self.prepare()
        if self.mode == "services":
            self._start_worker()
        self._start_server()
        return self

    def prepare(self) -> Stack:
        """The environment and a database holding the reference data and the admin, no process
        running: `start` goes on to the servers; a stack only prepared is a `seed` for others."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "RUN_EXECUTOR", "DJANGO_SETTINGS_MODULE"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.local",
            PERSONALAB_VAR_DIR=str(self.workdir / "var"),
            SECRET_KEY="integration-tests-only-" + uuid.uuid4().hex,
            DEBUG="false",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            RUN_CHUNK_SIZE="100",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            # A test key for the local model server the LLM runs talk to; no real provider is called.
            OPENAI_API_KEY="sk-integration-" + uuid.uuid4().hex[:12],
        )
        env.update(self.extra_env)
        seed = self.seed
        if seed is not None and seed.mode != self.mode:
            raise ValueError(f"a {self.mode} stack cannot copy a {seed.mode} seed")
        if self.mode == "services":
            self.database = f"personalab_it_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            # On the seed's own server the copy is a template; see _copy_seed for another server.
            template = (
                f' TEMPLATE "{seed.database}"'
                if seed is not None and seed.pg_admin_url == self.pg_admin_url
                else ""
            )
            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"{template}')
            base = self.pg_admin_url.rsplit("/", 1)[0]
            env["DATABASE_URL"] = f"{base}/{self.database}"
            env["REDIS_URL"] = self.redis_url
            redis.Redis.from_url(self.redis_url).flushdb()
        # As production (Dockerfile, docker-compose.yml): uvicorn's 5 s default killed web
        # processes busy on a loaded machine, and the requests they held were dropped.
        env.setdefault("UVICORN_TIMEOUT_WORKER_HEALTHCHECK", "30")
        self.env = env
        if seed is None:
            self._load_data()
        else:
            self._copy_seed(seed)
        return self

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.database:
            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # --- steps -------------------------------------------------------------------------------
    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def _load_data(self) -> None:
        subset = self.workdir / "cces_subset.csv"
        lines = (
            (ROOT / "polls/data/cces2018_abortion.csv").read_text().splitlines()[: POLL_ROWS + 1]
        )
        subset.write_text("\n".join(lines) + "\n")
        # One Django process for every step: five `manage.py` start-ups cost more than the steps.
        script = (
            "from django.core.management import call_command\n"
            "from django.contrib.auth.models import User\n"
            "from accounts.models import Token\n"
            "call_command('migrate', interactive=False, verbosity=0)\n"
            "call_command('load_areas')\n"
            f"call_command('import_poll', csv={str(subset)!r},"
            " mapping='polls/mappings/cces2018_abortion.yaml')\n"
            # ANES 1996 (bundled with statsmodels): its ideology scale grounds Likert items.
            "call_command('import_poll', statsmodels='anes96', mapping='polls/mappings/anes96.yaml')\n"
            f"u = User.objects.create_superuser({self.username!r}, 'it@example.com', "
            f"{self.password!r})\n"
            "print('TOKEN=' + Token.objects.create(user=u).key)\n"
        )
        self.token = self.manage("shell", "-c", script).split("TOKEN=")[1].strip()

    def _copy_seed(self, seed: Stack) -> None:
        """The seed's database, copied: the same rows (areas, polls, validation targets, the
        admin and its token) as `_load_data` would write, in seconds instead of a minute."""
        self.token, self.username, self.password = seed.token, seed.username, seed.password
        if self.mode == "embedded":
            source, target = seed.workdir / "var", self.workdir / "var"
            target.mkdir(parents=True, exist_ok=True)
            # No process has the seed open, so its file (and any WAL beside it) is settled.
            for path in source.glob("personalab.sqlite3*"):
                shutil.copy2(path, target / path.name)
        elif seed.pg_admin_url != self.pg_admin_url:  # another server: dump and restore
            dump = subprocess.run(
                [str(PG_BIN / "pg_dump"), "--no-owner", seed.env["DATABASE_URL"]],
                capture_output=True,
                timeout=300,
            )
            if dump.returncode:
                raise RuntimeError(f"pg_dump failed: {dump.stderr.decode()}")
            restore = subprocess.run(
                [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", self.env["DATABASE_URL"]],
                input=dump.stdout,
                capture_output=True,
                timeout=300,
            )
            if restore.returncode:
                raise RuntimeError(f"restoring the seed failed: {restore.stderr.decode()}")

    def _log(self, name: str):
        return open(self.workdir / f"{name}.log", "w")

    def log_text(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text()

    def _start_worker(self) -> None:
        self.processes.append(
            start_celery_worker(
                env=self.env, log_path=self.workdir / "worker.log", name="it", concurrency=2
            )
        )

    def replace_workers(self) -> None:
        """Stop every Celery worker of the stack (a fault test may have started its own, with
        other settings) and start the one `start` does, so the tests after find it as it was."""
        for process in [p for p in self.processes if "worker" in p.args]:
            self.stop_process(process)
            self.processes.remove(process)
        self._start_worker()

    def start_beat(self, *, interval_s: float, **env: str) -> subprocess.Popen:
        """Start `celery beat` (services mode) with the validation targets' task every
        `interval_s` seconds (`env` adds settings, e.g. RUN_WATCHDOG_SECONDS); stop it with
        `stop_process` (or it stops with the stack)."""
        process = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel=info",
                "-s",
                str(self.workdir / f"beat-schedule-{uuid.uuid4().hex[:6]}"),
            ],
            cwd=ROOT,
            env={**self.env, "VALIDATION_BEAT_SECONDS": str(interval_s), **env},
            stdout=self._log("beat"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_process(self, process: subprocess.Popen) -> None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()

    def _start_server(self) -> None:
        self.port = free_port()
        process = subprocess.Popen(
            [
                str(BIN / "uvicorn"),
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                # As production (docker-compose.yml): two processes, so a socket and the API
                # calls of one test land on different processes and progress must cross Redis.
                # Embedded mode has one process: its runs and their progress live in it.
                "--workers",
                str(self.web_processes or (2 if self.mode == "services" else 1)),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log("server"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        # Two web processes importing Django on a busy 2-core machine (CI beside other work) took
        # over a minute to answer; a stack that never started errors every test that shares it.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("uvicorn exited:\n" + self.log_text("server"))
            try:
                # The first request imports the URLconf and may be slow on a cold start.
                if requests.get(f"{self.base_url}/healthz/", timeout=15).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("uvicorn did not answer:\n" + self.log_text("server"))

    # --- client helpers ----------------------------------------------------------------------
    def question_id(self) -> int:
        api = self.api()
        polls = api.get(f"{self.base_url}/api/v1/polls/").json()["results"]
        poll = next(p for p in polls if p["slug"] == "cces-2018-abortion")
        return api.get(f"{self.base_url}/api/v1/polls/{poll['id']}/").json()["questions"][0]["id"]

    def create_population(self, size: int, seed: int = 1) -> dict:
        response = self.api().post(
            f"{self.base_url}/api/v1/populations/",
            json={
                "size": size,
                "seed": seed,
                "areas": [
                    {"area": a}
                    for a in (
                        "dallas_tx_city",
                        "detroit_mi_city",
                        "minneapolis_mn_city",
                        "phoenix_az_city",
                    )
                ],
            },
        )
        assert response.status_code == 201, response.text
        return response.json()

    def create_study(self) -> dict:
        response = self.api().post(
            f"{self.base_url}/api/v1/studies/",
            json={
                "title": "Employer abortion coverage",
                "items": [
                    {
                        "code": "coverage",
                        "text": "Allow employers to decline abortion coverage?",
                        "poll_question": self.question_id(),
                    }
                ],
            },
        )
        assert response.status_code == 201, response.text
        return response.json()

    def start_run(
        self, *, size: int, chunk_size: int = 100, seed: int = 1, **run_fields: Any
    ) -> dict:
        population, study = self.create_population(size, seed), self.create_study()
        response = self.api().post(
            f"{self.base_url}/api/v1/runs/",
            json={
                "study": study["id"],
                "population": population["id"],
                "chunk_size": chunk_size,
                "seed": seed,
                **run_fields,
            },
        )
        assert response.status_code == 201, response.text
        return response.json()

    def wait_for_run(self, run_id: int, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api().get(f"{self.base_url}/api/v1/runs/{run_id}/").json()
            if run["status"] in ("completed", "failed", "cancelled", "stopped"):
                return run
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} did not finish: {json.dumps(run)}")

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            return conn.execute(query, params).fetchall()


# --- servers a fault test owns, to stop and restart without touching the machine's ---------------


class OwnRedis:
    """A `redis-server` on a free port that keeps nothing on disk, as the machine's: a restart
    loses every queued message, every chord counter and every channel-layer group."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=(self.workdir / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # no SHUTDOWN SAVE: what was in memory is gone
            self.process.wait(timeout=10)
        self.process = None


PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/bin"))


class OwnPostgres:
    """A PostgreSQL cluster of its own (initdb in a temporary folder, trust auth, a free port),
    run as the `postgres` system user when the tests run as root (PostgreSQL refuses root)."""

    def __init__(self) -> None:
        # Its own folder straight under the temporary directory: pytest's are private to root,
        # and the server's user must reach its data directory.
        self.workdir = Path(tempfile.mkdtemp(prefix="personalab-pg-"))
        self.data = self.workdir / "pgdata"
        self.port = free_port()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {done.stdout}{done.stderr}")

    def init(self) -> OwnPostgres:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self.start()

    def start(self) -> OwnPostgres:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.workdir / "pg.log"),
            "-w",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)
