from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import Token
from llm.types import RetryPolicy
from tests.llm.fake_llm_server import FakeLLMServer

ROOT = Path(__file__).resolve().parent.parent
CCES_CSV = ROOT / "polls" / "data" / "cces2018_abortion.csv"
CCES_MAPPING = ROOT / "polls" / "mappings" / "cces2018_abortion.yaml"
ANES_MAPPING = ROOT / "polls" / "mappings" / "anes96.yaml"
DEMO_AREAS = ["dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city"]


def load_reference_data() -> None:
    call_command("load_areas", stdout=io.StringIO())
    call_command("import_poll", csv=str(CCES_CSV), mapping=CCES_MAPPING, stdout=io.StringIO())
    call_command("import_poll", statsmodels="anes96", mapping=ANES_MAPPING, stdout=io.StringIO())


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # The real areas and polls are loaded once; each test runs in a transaction rolled back after it.
    with django_db_blocker.unblock():
        load_reference_data()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle and lockout counters live in the cache, verified credentials and rendered bodies
    also in each process's own caches: each test starts with none."""
    from django.core.cache import cache

    from config.process_cache import process_caches_clear

    cache.clear()
    process_caches_clear()
    yield
    cache.clear()
    process_caches_clear()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("analyst", password="a-long-test-password")


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


@pytest.fixture
def cces_question():
    from polls.models import Question

    return Question.objects.get(poll__slug="cces-2018-abortion")


OPENAI_KEY = "sk-test-openai-7f3a9c1e5b"
ANTHROPIC_KEY = "sk-ant-test-2d8e4f6a0c"
COMPATIBLE_KEY = "local-test-key-9b1d3f5e7a"
# Fast backoff so retry tests take milliseconds; the Retry-After test sets its own floor.
FAST_RETRY = RetryPolicy(max_tries=4, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def llm_env(monkeypatch, settings):
    """Test keys in the environment, no shared limits, no replay-only mode."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("LLM_API_KEY", COMPATIBLE_KEY)
    settings.LLM_REPLAY_ONLY = False
    # Unit tests use in-process limits; the Redis variant opts in with database 13.
    settings.REDIS_URL = ""
    settings.LLM_RATELIMIT_REDIS_URL = ""
    settings.LLM_RATE_LIMITS = {}
