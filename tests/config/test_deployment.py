"""Deployment checks that run without a Docker engine.

The compose file is parsed rather than executed; production and backend selection are checked by
importing the settings in a fresh interpreter (tests.config.interpreter).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from django.db import OperationalError
from django.test import RequestFactory

from config.health import healthz
from tests.config.interpreter import child_env, run_python

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
APP_SERVICES = ("web", "worker")
# Random at import, as an operator would generate it (never a fixed string that could be reused).
SECRET_KEY_OK = secrets.token_urlsafe(50)


# --- docker-compose.yml -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load resolves the x-django anchor and its `<<` merges, as compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _command_text(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def _env_example_names() -> list[str]:
    names = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line.split("=", 1)[0].strip())
    return names


def test_compose_has_the_five_services(services: dict[str, Any]) -> None:
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)


def test_web_migrates_then_serves_asgi_with_uvicorn_worker_processes(
    services: dict[str, Any],
) -> None:
    command = _command_text(services["web"])
    assert "manage.py migrate" in command
    assert "uvicorn config.asgi:application" in command
    # Several processes, one per core by default (the README says how many).
    assert "--workers $${WEB_CONCURRENCY:-2}" in command
    # Migrations must finish before the server starts answering.
    assert command.index("migrate") < command.index("uvicorn")
    environment = services["web"]["environment"]
    assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert environment["DATABASE_POOL"] == "true"
    assert "8000:8000" in services["web"]["ports"]
    # The pool is the web processes' alone: prefork workers would inherit it across fork.
    assert "DATABASE_POOL" not in services["worker"]["environment"]


def test_worker_runs_celery(services: dict[str, Any]) -> None:
    assert "celery -A config worker" in _command_text(services["worker"])
    assert services["worker"]["environment"]["DJANGO_SETTINGS_MODULE"] == (
        "config.settings.production"
    )


def test_worker_can_be_scaled(services: dict[str, Any]) -> None:
    # A fixed container name or host port would make `--scale worker=N` fail for N > 1.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]


def test_one_beat_sends_the_watchdogs_and_sweeps(services: dict[str, Any]) -> None:
    # Without beat a run or a population build whose worker died is never taken up again.
    beat = services["beat"]
    assert "celery -A config beat" in _command_text(beat)
    assert beat["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert "deploy" not in beat  # no replicas: two beats would send every task twice
    from django.conf import settings

    assert {"runs-watchdog", "populations-watchdog", "retention-apply"} <= set(
        settings.CELERY_BEAT_SCHEDULE
    )


def test_the_beat_healthcheck_fails_on_a_stale_or_missing_schedule_file(
    services: dict[str, Any], tmp_path: Path
) -> None:
    test = services["beat"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "/tmp/celerybeat-schedule" in _command_text(services["beat"])
    code = test[3].replace("/tmp/celerybeat-schedule", str(tmp_path / "celerybeat-schedule"))

    def healthy() -> bool:
        return subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0

    assert not healthy()  # beat never wrote its schedule
    schedule = tmp_path / "celerybeat-schedule.dat"
    schedule.write_bytes(b"x")
    assert healthy()
    old = time.time() - 11 * 60
    os.utime(schedule, (old, old))
    assert not healthy()  # beat stopped writing 11 minutes ago: hung


@pytest.mark.parametrize("name", ["web", "worker", "beat", "postgres", "redis"])
def test_every_service_has_a_healthcheck(services: dict[str, Any], name: str) -> None:
    healthcheck = services[name].get("healthcheck")
    assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"


def test_web_healthcheck_probes_healthz_without_curl(services: dict[str, Any]) -> None:
    probe = " ".join(services["web"]["healthcheck"]["test"])
    assert "urllib" in probe
    assert "http://127.0.0.1:8000/healthz/" in probe


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_backing_services(
    services: dict[str, Any], name: str
) -> None:
    depends_on = services[name]["depends_on"]
    for dependency in ("postgres", "redis"):
        assert depends_on[dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_point_at_compose_postgres_and_redis(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    environment = service["environment"]
    assert environment["DATABASE_URL"] == (
        "postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/${POSTGRES_DB}"
    )
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert service["env_file"] == ".env"
    assert service["build"] == "."


def _scalars(node: Any) -> list[str]:
    """Every string value in the parsed file: what compose interpolates (comments are not)."""
    if isinstance(node, dict):
        return [text for value in node.values() for text in _scalars(value)]
    if isinstance(node, list):
        return [text for item in node for text in _scalars(item)]
    return [node] if isinstance(node, str) else []


def test_every_interpolated_variable_is_documented_in_env_example(
    compose: dict[str, Any],
) -> None:
    # `$$` is compose's escape for a literal `$` (evaluated by the container's shell, not by
    # compose), so drop it before looking for `${VAR}` / `$VAR` references.
    text = "\n".join(_scalars(compose)).replace("$$", "")
    required = set()
    for braced, modifier, bare in re.findall(
        r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))", text
    ):
        # `${VAR:-default}` / `${VAR-default}` work without the variable being set.
        if modifier.startswith((":-", "-")):
            continue
        required.add(braced or bare)
    assert required, "expected the compose file to interpolate at least the POSTGRES_* variables"
    missing = required - set(_env_example_names())
    assert not missing, f"not in .env.example: {sorted(missing)}"


def test_env_example_documents_every_setting() -> None:
    expected = {
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "POSTGRES_DB",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "WORKER_CONCURRENCY",
        "POPULATION_MAX_SIZE",
        "RUN_CHUNK_SIZE",
        "POLL_CELL_MIN_RESPONDENTS",
        "LOG_LEVEL",
        "CONN_MAX_AGE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
    }
    names = _env_example_names()
    assert expected <= set(names)
    assert len(names) == len(set(names)), "a variable is assigned twice"
    # compose builds these from the POSTGRES_* values; a copy in .env would be overridden anyway.
    assert not {"DATABASE_URL", "REDIS_URL"} & set(names)

    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            assert index > 0 and lines[index - 1].startswith("#"), f"no comment above {line!r}"


def test_env_example_allows_the_healthcheck_host() -> None:
    # The web healthcheck requests http://127.0.0.1:8000/; Django answers 400 to unlisted hosts.
    values = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert "127.0.0.1" in values["ALLOWED_HOSTS"].split(",")


# --- Dockerfile -------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with backslash continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_dockerfile_builds_a_non_root_uvicorn_image() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    # The project itself is installed (`pip install [--options] .`), not only its requirements.
    assert any(re.search(r"pip install (--\S+ )*\.(\s|$)", run) for run in runs)

    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    keywords = [keyword for keyword, _ in instructions]
    assert keywords.index("USER") < keywords.index("CMD")

    cmd = json.loads(dict(instructions)["CMD"])
    assert cmd[:2] == ["sh", "-c"]
    assert cmd[2].startswith("exec uvicorn config.asgi:application")
    assert "--host 0.0.0.0 --port 8000" in cmd[2] and "--workers ${WEB_CONCURRENCY}" in cmd[2]


def test_dockerfile_collectstatic_secret_is_not_baked_in() -> None:
    instructions = _dockerfile_instructions()
    collectstatic = [args for kw, args in instructions if kw == "RUN" and "collectstatic" in args]
    assert len(collectstatic) == 1
    # Set on the RUN line only: an ENV would ship the throwaway key to every container.
    assert "SECRET_KEY=" in collectstatic[0] and "ALLOWED_HOSTS=" in collectstatic[0]
    env_lines = " ".join(args for kw, args in instructions if kw in {"ENV", "ARG"})
    for name in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"):
        assert name not in env_lines


def test_dockerfile_collectstatic_gives_production_everything_it_requires(
    tmp_path: Path,
) -> None:
    instructions = _dockerfile_instructions()
    line = next(args for kw, args in instructions if kw == "RUN" and "collectstatic" in args)
    throwaway = dict(re.findall(r"([A-Z_]+)=(\S+)", line.split("python", 1)[0]))
    result = _setup_production(tmp_path, **throwaway)
    assert result.returncode == 0, result.stderr


# --- settings, in a fresh interpreter ---------------------------------------------------------


def _setup_production(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = child_env(tmp_path, "config.settings.production", **extra)
    return run_python("import django; django.setup()", env)


def test_production_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    result = _setup_production(tmp_path, ALLOWED_HOSTS="example.org")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_a_short_secret_key(tmp_path: Path) -> None:
    result = _setup_production(tmp_path, SECRET_KEY="too-short", ALLOWED_HOSTS="example.org")
    assert result.returncode != 0
    assert "SECRET_KEY is too short" in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "replace-me-with-at-least-32-random-characters",  # .env.example's placeholder
        "replace-me-with-at-least-32-random-characters-0123456789abcdef",
        "ab" * 40,  # long but two characters repeated
        "abcde" * 10,  # 50 characters, five of them
        "0123456789abcdef" * 4,  # every hexadecimal digit, in a repeated run
    ],
)
def test_production_refuses_a_placeholder_or_repetitive_secret_key(tmp_path: Path, key) -> None:
    result = _setup_production(tmp_path, SECRET_KEY=key, ALLOWED_HOSTS="example.org", **SERVER_URLS)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY is" in result.stderr
    assert 'python -c "import secrets; print(secrets.token_urlsafe(50))"' in result.stderr
    assert key not in result.stderr  # the refusal never logs the key


@pytest.mark.parametrize(
    "key",
    [secrets.token_urlsafe(50), secrets.token_hex(32), secrets.token_hex(25)],
    ids=["url-safe", "hex-64", "hex-50"],
)
def test_production_accepts_a_random_key_of_any_usual_alphabet(tmp_path: Path, key) -> None:
    # Hexadecimal has 16 characters: a rule of 20 distinct ones would refuse `openssl rand -hex 32`.
    result = _setup_production(tmp_path, SECRET_KEY=key, ALLOWED_HOSTS="example.org", **SERVER_URLS)
    assert result.returncode == 0, result.stderr


def test_the_env_example_placeholder_key_is_refused(tmp_path: Path) -> None:
    placeholder = next(
        line.split("=", 1)[1]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.startswith("SECRET_KEY=")
    )
    result = _setup_production(
        tmp_path, SECRET_KEY=placeholder, ALLOWED_HOSTS="example.org", **SERVER_URLS
    )
    assert result.returncode != 0 and "SECRET_KEY is" in result.stderr


def test_check_deploy_gives_no_warning_with_production_settings(tmp_path: Path) -> None:
    env = child_env(
        tmp_path,
        "config.settings.production",
        SECRET_KEY=SECRET_KEY_OK,
        ALLOWED_HOSTS="example.org",
        **SERVER_URLS,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_allowed_hosts(tmp_path: Path) -> None:
    result = _setup_production(tmp_path, SECRET_KEY=SECRET_KEY_OK)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


SERVER_URLS = {
    "DATABASE_URL": "postgres://personalab:pw@postgres:5432/personalab",
    "REDIS_URL": "redis://redis:6379/0",
}


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without_database_or_redis_url(
    tmp_path: Path, missing: str
) -> None:
    urls = {name: url for name, url in SERVER_URLS.items() if name != missing}
    result = _setup_production(
        tmp_path, SECRET_KEY=SECRET_KEY_OK, ALLOWED_HOSTS="example.org", **urls
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} is not set" in result.stderr


def test_production_starts_with_secret_key_allowed_hosts_database_and_redis(
    tmp_path: Path,
) -> None:
    result = _setup_production(
        tmp_path, SECRET_KEY=SECRET_KEY_OK, ALLOWED_HOSTS="example.org", **SERVER_URLS
    )
    assert result.returncode == 0, result.stderr


_PRINT_HTTPS = """
import json
import os
import django
django.setup()
from django.conf import settings
print(json.dumps([settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS,
                  settings.SECURE_REDIRECT_EXEMPT]))
"""


def _https_settings(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = child_env(
        tmp_path,
        "config.settings.production",
        SECRET_KEY=SECRET_KEY_OK,
        ALLOWED_HOSTS="example.org",
        **SERVER_URLS,
        **extra,
    )
    return run_python(_PRINT_HTTPS, env)


def test_production_redirects_to_https_and_sends_hsts_by_default(tmp_path: Path) -> None:
    result = _https_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    redirect, hsts, exempt = json.loads(result.stdout.strip().splitlines()[-1])
    assert redirect is True
    assert hsts == 3600
    # The container healthcheck requests plain http://127.0.0.1:8000/healthz/.
    assert any(re.match(pattern, "healthz/") for pattern in exempt)


def test_production_https_settings_come_from_the_environment(tmp_path: Path) -> None:
    result = _https_settings(tmp_path, SECURE_SSL_REDIRECT="False", SECURE_HSTS_SECONDS="31536000")
    assert result.returncode == 0, result.stderr
    redirect, hsts, _ = json.loads(result.stdout.strip().splitlines()[-1])
    assert (redirect, hsts) == (False, 31536000)


@pytest.mark.parametrize("value", ["-1", "a-year"])
def test_production_refuses_a_malformed_hsts_setting(tmp_path: Path, value: str) -> None:
    result = _https_settings(tmp_path, SECURE_HSTS_SECONDS=value)
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stderr


def test_production_reads_secrets_from_files(tmp_path: Path) -> None:
    # Docker secrets arrive as files, usually with a trailing newline that must be stripped.
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(SECRET_KEY_OK + "\n")
    hosts_file = tmp_path / "allowed_hosts"
    hosts_file.write_text("example.org, 127.0.0.1\n")
    env = child_env(
        tmp_path,
        "config.settings.production",
        SECRET_KEY_FILE=str(secret_file),
        ALLOWED_HOSTS_FILE=str(hosts_file),
        **SERVER_URLS,
    )
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps([settings.SECRET_KEY, settings.ALLOWED_HOSTS]))"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    secret_key, allowed_hosts = json.loads(result.stdout.strip().splitlines()[-1])
    assert secret_key == SECRET_KEY_OK
    assert allowed_hosts == ["example.org", "127.0.0.1"]


def test_production_reports_an_unreadable_secret_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-secret"
    result = _setup_production(tmp_path, SECRET_KEY_FILE=str(missing), ALLOWED_HOSTS="example.org")
    assert result.returncode != 0
    assert f"SECRET_KEY_FILE={missing}" in result.stderr


_PRINT_BACKENDS = """
import json
import os
import django
django.setup()
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "engine": database["ENGINE"],
    "init_command": database.get("OPTIONS", {}).get("init_command", ""),
    "broker": settings.CELERY_BROKER_URL,
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "executor": settings.RUN_EXECUTOR,
    "conn_max_age": database.get("CONN_MAX_AGE"),
    "pool": database.get("OPTIONS", {}).get("pool"),
}))
"""


def _backends(tmp_path: Path, **extra: str) -> dict[str, str]:
    result = run_python(_PRINT_BACKENDS, child_env(tmp_path, "config.settings.local", **extra))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_backends_without_database_or_redis_url(tmp_path: Path) -> None:
    backends = _backends(tmp_path)
    assert backends["engine"] == "django.db.backends.sqlite3"
    # WAL lets the background run thread write while pages read.
    assert "journal_mode=WAL" in backends["init_command"]
    assert backends["broker"] == "memory://"
    assert backends["channel_layer"] == "studies.layers.ThreadSafeInMemoryChannelLayer"
    assert backends["executor"] == "thread"


def test_server_backends_from_database_and_redis_url(tmp_path: Path) -> None:
    redis_url = "redis://127.0.0.1:6379/0"
    backends = _backends(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL=redis_url,
    )
    assert backends["engine"] == "django.db.backends.postgresql"
    assert backends["broker"] == redis_url
    assert backends["channel_layer"] == "channels_redis.core.RedisChannelLayer"
    assert backends["executor"] == "celery"


def test_database_connections_are_not_kept_by_default_under_asgi(tmp_path: Path) -> None:
    # Under ASGI each sync view runs on a thread of its own; a persistent connection per thread
    # would pile up until PostgreSQL refuses new ones.
    url = "postgres://postgres@127.0.0.1:5432/postgres"
    assert _backends(tmp_path, DATABASE_URL=url)["conn_max_age"] == 0
    assert _backends(tmp_path, DATABASE_URL=url, CONN_MAX_AGE="30")["conn_max_age"] == 30


def test_a_connection_pool_per_process_when_asked(tmp_path: Path) -> None:
    url = "postgres://postgres@127.0.0.1:5432/postgres"
    assert _backends(tmp_path, DATABASE_URL=url)["pool"] is None
    pooled = _backends(tmp_path, DATABASE_URL=url, DATABASE_POOL="true", DATABASE_POOL_MAX="6")
    assert pooled["pool"] == {"min_size": 2, "max_size": 6, "timeout": 10.0}
    # The pool keeps the connections; Django's own persistence must stay off.
    assert pooled["conn_max_age"] == 0


# --- /healthz/ --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_reports_ok(client) -> None:
    # Needs `path("healthz/", healthz)` in config/urls.py.
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_503_when_the_database_is_down() -> None:
    broken = mock.MagicMock()
    broken.cursor.side_effect = OperationalError("connection refused")
    with mock.patch("config.health.connections", {"default": broken}):
        response = healthz(RequestFactory().get("/healthz/"))
    assert response.status_code == 503
    # Anonymous callers learn that it is down, not where the database is or why.
    assert json.loads(response.content) == {"status": "error", "database": "unavailable"}


def test_healthz_rejects_writes() -> None:
    response = healthz(RequestFactory().post("/healthz/"))
    assert response.status_code == 405
