"""Retries with backoff on 429, 5xx and timeouts; invalid output fed back to the model."""

from __future__ import annotations

import email.utils
import time
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from llm.gateway import (
    LLMConfig,
    ProviderError,
    RetryPolicy,
    StructuredOutputError,
    complete_structured,
)
from llm.models import LLMCall
from llm.providers.base import retry_after_seconds
from tests.llm.conftest import FAST_RETRY
from tests.llm.fake_llm_server import error, reply, sleep

pytestmark = pytest.mark.django_db

MESSAGES = [{"role": "user", "content": "Would you pay $12 a month for this service?"}]
VALID = {"support": "yes", "confidence": 0.7}


class Verdict(BaseModel):
    support: Literal["yes", "no"]
    confidence: float = Field(ge=0, le=1)


@pytest.fixture(params=["openai", "anthropic"])
def config(request, fake_llm) -> LLMConfig:
    base = fake_llm.openai_base_url if request.param == "openai" else fake_llm.anthropic_base_url
    return LLMConfig(provider=request.param, model="m-test", base_url=base, timeout_s=0.5)


def test_429_waits_at_least_retry_after(fake_llm, config):
    fake_llm.script(error(429, retry_after=1), reply(VALID))

    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value.support == "yes"
    first, second = fake_llm.requests
    assert second.received_at - first.received_at >= 1.0
    statuses = list(LLMCall.objects.order_by("id").values_list("status", "http_status"))
    assert statuses == [("http_error", 429), ("ok", None)]


def test_500_then_success(fake_llm, config):
    fake_llm.script(error(500), error(503), reply(VALID))

    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value.confidence == 0.7
    assert len(fake_llm.requests) == 3
    tries = list(LLMCall.objects.order_by("id").values_list("transport_try", "status"))
    assert tries == [(1, "http_error"), (2, "http_error"), (3, "ok")]


def test_persistent_500_gives_up_after_bounded_tries(fake_llm, config):
    fake_llm.script(*[error(500, message="upstream exploded")] * 10)

    with pytest.raises(ProviderError, match=r"failed after 4 tries.*HTTP 500") as exc_info:
        complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert exc_info.value.http_status == 500
    assert len(fake_llm.requests) == FAST_RETRY.max_tries
    assert LLMCall.objects.filter(status="http_error").count() == FAST_RETRY.max_tries


def test_400_is_not_retried(fake_llm, config):
    fake_llm.script(error(400, message="max_tokens too large"), reply(VALID))

    with pytest.raises(ProviderError, match=r"refused the request.*max_tokens too large"):
        complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert len(fake_llm.requests) == 1


def test_timeout_is_retried(fake_llm, config):
    fake_llm.script(sleep(2.0, then=VALID), reply(VALID))

    started = time.monotonic()
    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value.support == "yes"
    assert time.monotonic() - started < 1.9  # gave up on the slow one at the 0.5 s timeout
    first = LLMCall.objects.order_by("id").first()
    assert first.status == "timeout"
    assert "0.5 s" in first.error


def test_malformed_json_is_retried_with_the_error_fed_back(fake_llm, config):
    fake_llm.script(reply("Sure! I think yes."), reply(VALID))

    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value.support == "yes"
    assert len(result.attempts) == 2 and not result.attempts[0].ok
    follow_up = fake_llm.requests[1].body["messages"]
    assert follow_up[-2] == {"role": "assistant", "content": "Sure! I think yes."}
    assert follow_up[-1]["role"] == "user"
    assert "not valid JSON" in follow_up[-1]["content"]
    rows = list(LLMCall.objects.order_by("id").values_list("attempt", "status", "parsed_ok"))
    assert rows == [(1, "invalid_output", False), (2, "ok", True)]


def test_schema_violation_names_the_field(fake_llm, config):
    fake_llm.script(reply({"support": "maybe", "confidence": 3}), reply(VALID))

    complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    feedback = fake_llm.requests[1].body["messages"][-1]["content"]
    assert "support:" in feedback and "confidence:" in feedback


def test_still_invalid_after_max_attempts_raises_with_reasons(fake_llm, config):
    fake_llm.script(
        reply("nope", input_tokens=10, output_tokens=1),
        reply({"support": "maybe", "confidence": 0.5}, input_tokens=20, output_tokens=2),
        reply({"confidence": 0.5}, input_tokens=30, output_tokens=3),
    )

    with pytest.raises(StructuredOutputError) as exc_info:
        complete_structured(
            config=config, messages=MESSAGES, schema=Verdict, max_attempts=3, retry=FAST_RETRY
        )

    err = exc_info.value
    assert len(fake_llm.requests) == 3
    assert len(err.reasons) == 3
    assert "not valid JSON" in err.reasons[0]
    assert "support" in err.reasons[1]
    assert "support: Field required" in err.reasons[2]
    assert "no valid Verdict in 3 attempt(s)" in err.message
    assert len(err.call_ids) == 3
    assert sum(a.input_tokens for a in err.attempts) == 60
    assert err.cost is None  # no price row: unknown, not zero


def test_retry_after_as_http_date():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)

    assert 28 <= retry_after_seconds({"retry-after": later}) <= 30
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_backoff_grows_exponentially_and_is_capped():
    policy = RetryPolicy(base_delay_s=1, max_delay_s=8)

    assert [policy.delay(n, None, 0.999) for n in (1, 2, 3, 4, 5)] == pytest.approx(
        [1, 2, 4, 8, 8], abs=0.01
    )
    assert policy.delay(3, None, 0.0) == 0.0  # full jitter
    assert policy.delay(1, 5.0, 0.5) >= 5.0  # Retry-After is a floor


def test_retry_after_beyond_the_limit_gives_up(fake_llm):
    config = LLMConfig(provider="openai", model="m", base_url=fake_llm.openai_base_url)
    fake_llm.script(error(429, retry_after=3600))

    with pytest.raises(ProviderError, match="asks to wait 3600 s"):
        complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)


def test_a_repeated_invalid_reply_is_asked_again_not_replayed_from_the_cache(fake_llm, config):
    fake_llm.script(reply("not json"), reply("not json"), reply(VALID))

    result = complete_structured(
        config=config, messages=MESSAGES, schema=Verdict, max_attempts=3, retry=FAST_RETRY
    )

    assert result.value.support == "yes"
    assert len(fake_llm.requests) == 3
    assert not LLMCall.objects.filter(status=LLMCall.Status.CACHE_HIT).exists()
    # The third request carries both refused replies and what was wrong with each.
    third = fake_llm.requests[2].body["messages"]
    assert [m["role"] for m in third[-4:]] == ["assistant", "user", "assistant", "user"]
