from __future__ import annotations

import pytest

from tests.conftest import ANTHROPIC_KEY, COMPATIBLE_KEY, FAST_RETRY, OPENAI_KEY

__all__ = ["ANTHROPIC_KEY", "COMPATIBLE_KEY", "FAST_RETRY", "OPENAI_KEY"]


@pytest.fixture(autouse=True)
def _llm_env(llm_env):
    """Every gateway test runs with the test keys and in-process limits."""
