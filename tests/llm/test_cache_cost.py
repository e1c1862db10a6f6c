"""Cache and replay, cost from the price table, estimates."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import pytest
from pydantic import BaseModel

from llm.cachekey import cache_key
from llm.gateway import (
    LLMConfig,
    ReplayMissError,
    complete_structured,
    complete_text,
    estimate_cost,
)
from llm.models import CachedResponse, LLMCall
from llm.selectors import llm_run_usage
from llm.services import model_price_set
from tests.llm.conftest import FAST_RETRY
from tests.llm.fake_llm_server import reply

pytestmark = pytest.mark.django_db

MESSAGES = [{"role": "user", "content": "Do you support the new bike lanes?"}]


class Verdict(BaseModel):
    support: Literal["yes", "no"]


@pytest.fixture
def config(fake_llm) -> LLMConfig:
    return LLMConfig(provider="openai", model="gpt-test", seed=1, base_url=fake_llm.openai_base_url)


@pytest.fixture
def price():
    # Made-up figures for the test, not a provider's real price list.
    return model_price_set(
        provider="openai",
        model="gpt-test",
        input_per_million=Decimal("2.50"),
        output_per_million=Decimal("10.00"),
        source="test fixture",
    )


def test_repeated_call_is_served_from_the_cache(fake_llm, config, price):
    fake_llm.script(reply({"support": "no"}, input_tokens=1000, output_tokens=200))

    first = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)
    second = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert len(fake_llm.requests) == 1
    assert first.value == second.value
    assert (first.cached, second.cached) == (False, True)
    assert first.cost == Decimal("0.0045")  # 1000 × 2.50/1M + 200 × 10/1M
    assert second.cost == Decimal("0")
    hit = LLMCall.objects.get(pk=second.call_ids[0])
    assert hit.status == LLMCall.Status.CACHE_HIT
    assert hit.cost == 0 and hit.input_tokens == 1000


def test_cache_replays_every_attempt_including_invalid_ones(fake_llm, config):
    fake_llm.script(reply("not json"), reply({"support": "yes"}))
    first = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    second = complete_structured(
        config=config, messages=MESSAGES, schema=Verdict, replay_only=True, retry=FAST_RETRY
    )

    assert len(fake_llm.requests) == 2
    assert second.value == first.value
    assert [a.cached for a in second.attempts] == [True, True]


def test_sample_index_and_parameters_change_the_key(config):
    base = cache_key(config=config, messages=MESSAGES, sample_index=0)

    assert cache_key(config=config, messages=MESSAGES, sample_index=1) != base
    warmer = config.model_copy(update={"temperature": 0.9})
    assert cache_key(config=warmer, messages=MESSAGES, sample_index=0) != base
    other = [{"role": "user", "content": "Do you support the new bus lanes?"}]
    assert cache_key(config=config, messages=other, sample_index=0) != base
    assert cache_key(config=config, messages=MESSAGES, sample_index=0) == base
    assert len(base) == 64


def test_the_key_tells_apart_messages_whose_text_runs_together(config):
    """Each part is length-prefixed: moving text across a message boundary, or between a role and
    its content, or changing the model, base URL or provider, gives another key."""

    def key(messages, **update):
        return cache_key(config=config.model_copy(update=update), messages=messages, sample_index=0)

    split = key([{"role": "user", "content": "ab"}, {"role": "user", "content": "c"}])
    assert split != key([{"role": "user", "content": "a"}, {"role": "user", "content": "bc"}])
    assert split != key([{"role": "user", "content": "abc"}])
    assert split != key([{"role": "user", "content": "ab"}, {"role": "system", "content": "c"}])
    one = [{"role": "user", "content": "Grüße"}]
    assert key(one) != key(one, model=config.model + "x")
    assert key(one) != key(one, base_url="http://127.0.0.1:9/v1")
    assert key(one) == key(list(one))


def test_different_sample_index_calls_out_again(fake_llm, config):
    fake_llm.default_content = '{"support": "yes"}'
    complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    complete_structured(
        config=config, messages=MESSAGES, schema=Verdict, sample_index=1, retry=FAST_RETRY
    )

    assert len(fake_llm.requests) == 2


def test_replay_only_miss_raises_without_calling(fake_llm, config):
    with pytest.raises(ReplayMissError, match="Replay-only mode"):
        complete_structured(
            config=config, messages=MESSAGES, schema=Verdict, replay_only=True, retry=FAST_RETRY
        )
    assert fake_llm.requests == []


def test_replay_only_from_the_settings(fake_llm, config, settings):
    settings.LLM_REPLAY_ONLY = True

    with pytest.raises(ReplayMissError):
        complete_text(config=config, messages=MESSAGES, retry=FAST_RETRY)
    assert fake_llm.requests == []


def test_use_cache_false_always_calls(fake_llm, config):
    for _ in range(2):
        complete_text(config=config, messages=MESSAGES, use_cache=False, retry=FAST_RETRY)

    assert len(fake_llm.requests) == 2
    assert CachedResponse.objects.count() == 0


def test_unknown_price_is_null_not_zero(fake_llm, config):
    result = complete_text(config=config, messages=MESSAGES, retry=FAST_RETRY)

    assert result.cost is None
    assert LLMCall.objects.get().cost is None


def test_cost_of_a_run(fake_llm, config, price):
    fake_llm.script(
        reply({"support": "yes"}, input_tokens=400, output_tokens=100),
        reply({"support": "no"}, input_tokens=600, output_tokens=100),
    )
    for persona_id, text in ((1, "Do you support A?"), (2, "Do you support B?")):
        complete_structured(
            config=config,
            messages=[{"role": "user", "content": text}],
            schema=Verdict,
            run_id=9,
            persona_id=persona_id,
            retry=FAST_RETRY,
        )

    usage = llm_run_usage(run_id=9)

    assert usage == {
        "calls": 2,
        "input_tokens": 1000,
        "output_tokens": 200,
        "cost": Decimal("0.0045"),
    }


def test_estimate_cost(config, price):
    estimate = estimate_cost(
        config=config, calls=3000, input_tokens_per_call=1500, output_tokens_per_call=300
    )

    assert estimate.price_known
    assert estimate.input_tokens == 4_500_000
    assert estimate.amount == Decimal("20.25")  # 4.5M × 2.50 + 0.9M × 10 per million
    assert estimate.currency == "USD"


def test_estimate_without_a_price_is_unknown(config):
    estimate = estimate_cost(
        config=config, calls=10, input_tokens_per_call=100, output_tokens_per_call=10
    )

    assert estimate.amount is None and not estimate.price_known
