"""Settings checked in a fresh interpreter: settings are read once per process, and this test
process is already configured with config.settings.test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables that would leak the developer's (or CI's) configuration into the child interpreter.
SCRUBBED_ENV = (
    "DATABASE_URL",
    "CONN_MAX_AGE",
    "REDIS_URL",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "ALLOWED_HOSTS",
    "ALLOWED_HOSTS_FILE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "RUN_EXECUTOR",
    "SQLITE_PATH",
    "DJANGO_SETTINGS_MODULE",
)
SCRUBBED_PREFIXES = ("LLM_",)  # LLM_REPLAY_ONLY, LLM_<PROVIDER>_CONCURRENCY/RPM/TPM


def child_env(tmp_path: Path, settings_module: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SCRUBBED_ENV and not key.startswith(SCRUBBED_PREFIXES)
    }
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    # Keep the child's VAR_DIR (made at django.setup(), holds the SQLite file) out of the repo.
    env["PERSONALAB_VAR_DIR"] = str(tmp_path / "var")
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
