from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm.types import RetryPolicy
from tests.llm.fake_llm_server import FakeLLMServer

OPENAI_KEY = "sk-test-openai-7f3a9c1e5b"
ANTHROPIC_KEY = "sk-ant-test-2d8e4f6a0c"
COMPATIBLE_KEY = "local-test-key-9b1d3f5e7a"
# Fast backoff so retry tests take milliseconds; the Retry-After test sets its own floor.
FAST_RETRY = RetryPolicy(max_tries=4, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def llm_env(monkeypatch, settings):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("LLM_API_KEY", COMPATIBLE_KEY)
    monkeypatch.delenv("LLM_REPLAY_ONLY", raising=False)
    for var in ("OPENAI", "ANTHROPIC", "COMPATIBLE"):
        for suffix in ("CONCURRENCY", "RPM", "TPM"):
            monkeypatch.delenv(f"LLM_{var}_{suffix}", raising=False)
    # Unit tests use in-process limits; the Redis variant opts in with database 13.
    settings.REDIS_URL = ""
    settings.LLM_RATELIMIT_REDIS_URL = ""
    settings.LLM_RATE_LIMITS = {}
