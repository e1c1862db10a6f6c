"""Settings read from the environment, in a fresh interpreter (tests.config.interpreter)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm.types import Provider
from tests.config.interpreter import child_env, run_python

_PRINT_LLM = """
import json
from django.conf import settings
print(json.dumps([settings.LLM_REPLAY_ONLY, settings.LLM_RATE_LIMITS]))
"""


def _llm_settings(tmp_path: Path, **environment: str) -> tuple[bool, dict]:
    result = run_python(_PRINT_LLM, child_env(tmp_path, "config.settings.local", **environment))
    assert result.returncode == 0, result.stderr
    replay_only, rate_limits = json.loads(result.stdout.strip().splitlines()[-1])
    return replay_only, rate_limits


def test_llm_settings_default_to_calling_out_without_limits(tmp_path: Path) -> None:
    assert _llm_settings(tmp_path) == (False, {})


def test_llm_settings_come_from_the_environment(tmp_path: Path) -> None:
    replay_only, rate_limits = _llm_settings(
        tmp_path,
        LLM_REPLAY_ONLY="yes",
        LLM_OPENAI_RPM="500",
        LLM_ANTHROPIC_CONCURRENCY="4",
        LLM_ANTHROPIC_TPM="40000",
        LLM_COMPATIBLE_CONCURRENCY="2",
        LLM_COMPATIBLE_TPM="0",  # 0 is no limit
    )

    assert replay_only is True
    assert rate_limits == {
        "openai": {"requests_per_minute": 500},
        "anthropic": {"concurrency": 4, "tokens_per_minute": 40000},
        "compatible": {"concurrency": 2},
    }
    assert set(rate_limits) == {provider.value for provider in Provider}


@pytest.mark.parametrize(
    ("name", "value"),
    [("LLM_REPLAY_ONLY", "maybe"), ("LLM_OPENAI_RPM", "lots"), ("LLM_ANTHROPIC_TPM", "-5")],
)
def test_a_malformed_llm_setting_stops_the_start(tmp_path: Path, name: str, value: str) -> None:
    env = child_env(tmp_path, "config.settings.local", **{name: value})
    result = run_python(_PRINT_LLM, env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name}={value!r}" in result.stderr


_PRINT_RATES = """
import json
from django.conf import settings
print(json.dumps(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]))
"""


def test_api_key_rates_default_to_the_per_user_rates_and_a_ceiling_of_five_keys(
    tmp_path: Path,
) -> None:
    env = child_env(
        tmp_path,
        "config.settings.local",
        API_RATE_USER="100/min",
        API_RATE_WORK="10/hour",
        API_RATE_KEY_READ="30/s",
    )
    result = run_python(_PRINT_RATES, env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "user": "100/min",
        "work": "10/hour",
        "user:read": "30/s",
        "user:run": "100/min",
        "user:admin": "100/min",
        "user:keys": "500/min",
        "work:keys": "50/hour",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [("API_RATE_USER", "1200"), ("API_RATE_KEY_RUN", "lots/min"), ("API_RATE_KEYS", "5/week")],
)
def test_a_malformed_api_rate_stops_the_start(tmp_path: Path, name: str, value: str) -> None:
    result = run_python(_PRINT_RATES, child_env(tmp_path, "config.settings.local", **{name: value}))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name}={value!r}" in result.stderr


def test_an_executor_the_server_cannot_use_stops_the_start(tmp_path: Path) -> None:
    result = run_python(
        _PRINT_LLM, child_env(tmp_path, "config.settings.local", RUN_EXECUTOR="caller")
    )

    assert result.returncode != 0
    assert "RUN_EXECUTOR='caller' is not an executor for the server" in result.stderr


_SETUP = """
import json, sys
from pathlib import Path
from django.conf import settings
folders = [Path(settings.VAR_DIR), Path(settings.STATIC_ROOT), Path(sys.argv[1])]
before = [folder.is_dir() for folder in folders]
import django
django.setup()
print(json.dumps([before, [folder.is_dir() for folder in folders]]))
"""


def test_settings_write_nothing_and_setup_makes_the_local_folders(tmp_path: Path) -> None:
    sqlite_folder = tmp_path / "databases"
    env = child_env(
        tmp_path, "config.settings.local", SQLITE_PATH=str(sqlite_folder / "personalab.sqlite3")
    )
    result = run_python(_SETUP, env, str(sqlite_folder))

    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout.strip().splitlines()[-1])
    # VAR_DIR, STATIC_ROOT and the SQLite file's folder: none on import, all after setup.
    assert before == [False, False, False]
    assert after == [True, True, True]


_PRINT_LAYER = """
import json
from django.conf import settings
layer = settings.CHANNEL_LAYERS["default"]
print(json.dumps([layer["CONFIG"], settings.CELERY_BROKER_TRANSPORT_OPTIONS]))
"""


def test_with_redis_the_channel_layer_pool_and_the_priority_queues_are_sized(
    tmp_path: Path,
) -> None:
    env = child_env(tmp_path, "config.settings.local", REDIS_URL="redis://127.0.0.1:6379/0")
    result = run_python(_PRINT_LAYER, env)
    assert result.returncode == 0, result.stderr
    config, transport = json.loads(result.stdout.strip().splitlines()[-1])
    # redis-py's default pool of 100 failed the 101st concurrent handshake (bench/sockets.py).
    assert config["hosts"][0]["max_connections"] == 2000
    assert config["capacity"] == 200
    assert transport["queue_order_strategy"] == "priority"
    assert transport["priority_steps"] == list(range(10))
    assert "sep" not in transport  # kombu's binding table keeps its default format
    env["CHANNEL_LAYER_MAX_CONNECTIONS"] = "5000"
    config, _ = json.loads(run_python(_PRINT_LAYER, env).stdout.strip().splitlines()[-1])
    assert config["hosts"][0]["max_connections"] == 5000


_PRINT_WEB_THREADS = """
import django
django.setup()
from django.conf import settings
print(settings.WEB_THREADS)
"""


def test_web_threads_beyond_the_database_pool_refuse_to_start(tmp_path: Path) -> None:
    env = child_env(
        tmp_path,
        "config.settings.local",
        DATABASE_URL="postgres://u@127.0.0.1:5432/db",
        DATABASE_POOL="true",
        DATABASE_POOL_MAX="6",
        WEB_THREADS="6",
    )
    result = run_python(_PRINT_WEB_THREADS, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "6"
    env["WEB_THREADS"] = "8"
    result = run_python(_PRINT_WEB_THREADS, env)
    assert result.returncode != 0
    assert "WEB_THREADS=8 is more than DATABASE_POOL_MAX=6" in result.stderr
    assert "Lower WEB_THREADS or raise DATABASE_POOL_MAX" in result.stderr


_HEAVY = ("anthropic", "openai", "sklearn")
_IMPORTED = f"""
import json, sys
import django
django.setup()
print(json.dumps([name for name in {_HEAVY!r} if name in sys.modules]))
"""


def test_a_process_start_imports_neither_the_model_sdks_nor_scikit_learn(tmp_path: Path) -> None:
    """Every `manage.py` command, web process and worker sets Django up; the SDKs and sklearn were
    4.2 of its 9.0 s under cProfile (6.4-7.4 s of wall time unprofiled, 2.9-3.1 s without them)
    and are imported where a client is made or a model is fitted instead."""
    result = run_python(_IMPORTED, child_env(tmp_path, "config.settings.local"))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
