"""Each provider sends the request its real API expects and parses the real response shape."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from llm.gateway import LLMConfig, complete_structured, complete_text
from llm.models import LLMCall
from tests.llm.conftest import ANTHROPIC_KEY, COMPATIBLE_KEY, FAST_RETRY, OPENAI_KEY
from tests.llm.fake_llm_server import reply

pytestmark = pytest.mark.django_db

MESSAGES = [
    {"role": "system", "content": "You are Maria, 44, a nurse in Phoenix."},
    {"role": "user", "content": "Do you support a 1% sales tax for transit?"},
]


class Verdict(BaseModel):
    support: Literal["yes", "no"]
    confidence: float = Field(ge=0, le=1)


def test_openai_request_and_parsed_result(fake_llm):
    fake_llm.script(reply({"support": "yes", "confidence": 0.8}, input_tokens=120, output_tokens=9))
    config = LLMConfig(
        provider="openai",
        model="gpt-test",
        temperature=0.3,
        max_tokens=200,
        seed=42,
        base_url=fake_llm.openai_base_url,
    )

    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value == Verdict(support="yes", confidence=0.8)
    assert (result.input_tokens, result.output_tokens, result.cached) == (120, 9, False)
    [req] = fake_llm.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    body = req.body
    assert body["model"] == "gpt-test"
    assert body["temperature"] == 0.3
    assert body["max_completion_tokens"] == 200
    assert body["seed"] == 42
    assert body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"].startswith("You are Maria, 44")
    assert '"support"' in body["messages"][0]["content"]  # the schema is in the instructions
    assert body["messages"][1]["content"] == MESSAGES[1]["content"]


def test_openai_json_schema_mode_sends_the_schema(fake_llm):
    fake_llm.script(reply({"support": "no", "confidence": 0.1}))
    config = LLMConfig(
        provider="openai",
        model="gpt-test",
        structured_mode="json_schema",
        base_url=fake_llm.openai_base_url,
    )

    complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    fmt = fake_llm.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Verdict"
    assert fmt["json_schema"]["schema"] == Verdict.model_json_schema()
    assert "temperature" not in fake_llm.requests[0].body  # None leaves the provider default


def test_sample_index_offsets_the_seed(fake_llm):
    config = LLMConfig(
        provider="openai", model="gpt-test", seed=42, base_url=fake_llm.openai_base_url
    )
    fake_llm.script(reply({"support": "no", "confidence": 0.1}))

    complete_structured(
        config=config, messages=MESSAGES, schema=Verdict, sample_index=3, retry=FAST_RETRY
    )

    assert fake_llm.requests[0].body["seed"] == 45


def test_compatible_server_by_base_url(fake_llm):
    fake_llm.script(reply({"support": "no", "confidence": 0.4}))
    config = LLMConfig(
        provider="compatible",
        model="meta-llama/Llama-3.1-8B-Instruct",
        temperature=0.0,
        max_tokens=64,
        base_url=fake_llm.openai_base_url,
    )

    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value.support == "no"
    [req] = fake_llm.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {COMPATIBLE_KEY}"
    assert req.body["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert req.body["max_tokens"] == 64
    assert req.body["temperature"] == 0.0
    assert req.body["response_format"] == {"type": "json_object"}


def test_compatible_server_without_a_key_gets_a_placeholder(fake_llm, monkeypatch):
    monkeypatch.delenv("LLM_API_KEY")
    config = LLMConfig(provider="compatible", model="local", base_url=fake_llm.openai_base_url)

    complete_text(config=config, messages=MESSAGES[1:], retry=FAST_RETRY)

    assert fake_llm.requests[0].headers["authorization"] == "Bearer EMPTY"


def test_compatible_needs_a_base_url():
    with pytest.raises(ValueError, match="needs base_url"):
        LLMConfig(provider="compatible", model="local")


def test_anthropic_request_uses_forced_tool_and_parses_tool_input(fake_llm):
    fake_llm.script(
        reply({"support": "yes", "confidence": 0.65}, input_tokens=300, output_tokens=20)
    )
    config = LLMConfig(
        provider="anthropic",
        model="claude-test",
        temperature=0.5,
        max_tokens=300,
        seed=7,
        base_url=fake_llm.anthropic_base_url,
    )

    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value == Verdict(support="yes", confidence=0.65)
    assert (result.input_tokens, result.output_tokens) == (300, 20)
    [req] = fake_llm.requests
    assert req.path == "/v1/messages"
    # anthropic 2.x sends the key as a bearer token; older SDKs used x-api-key. Either is the key.
    sent_key = req.headers.get("x-api-key") or req.headers["authorization"].removeprefix("Bearer ")
    assert sent_key == ANTHROPIC_KEY
    assert req.headers["anthropic-version"]
    body = req.body
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 300
    assert body["temperature"] == 0.5
    assert "seed" not in body  # the Messages API has none
    assert body["system"].startswith("You are Maria, 44")
    assert body["messages"] == [{"role": "user", "content": MESSAGES[1]["content"]}]
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}
    assert body["tools"][0]["input_schema"] == Verdict.model_json_schema()


def test_anthropic_prompt_mode_reads_text(fake_llm):
    fake_llm.script(reply('{"support": "no", "confidence": 0.2}'))
    config = LLMConfig(
        provider="anthropic",
        model="claude-test",
        structured_mode="prompt",
        base_url=fake_llm.anthropic_base_url,
    )

    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value.support == "no"
    assert "tools" not in fake_llm.requests[0].body


def test_anthropic_structured_mode_is_checked():
    with pytest.raises(ValueError, match="not available for anthropic"):
        LLMConfig(provider="anthropic", model="claude-test", structured_mode="json_object")


def test_code_fenced_json_is_accepted(fake_llm):
    fake_llm.script(reply('```json\n{"support": "yes", "confidence": 1}\n```'))
    config = LLMConfig(provider="openai", model="gpt-test", base_url=fake_llm.openai_base_url)

    result = complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    assert result.value.confidence == 1


def test_call_log_rows_have_tokens_latency_status_and_links(fake_llm):
    fake_llm.latency_s = 0.05
    fake_llm.script(reply({"support": "yes", "confidence": 0.5}, input_tokens=50, output_tokens=6))
    config = LLMConfig(provider="openai", model="gpt-test", base_url=fake_llm.openai_base_url)

    result = complete_structured(
        config=config,
        messages=MESSAGES,
        schema=Verdict,
        label="participation",
        run_id=12,
        persona_id=345,
        retry=FAST_RETRY,
    )

    [call] = LLMCall.objects.all()
    assert result.call_ids == [call.pk]
    assert call.status == LLMCall.Status.OK
    assert call.parsed_ok is True
    assert (call.input_tokens, call.output_tokens) == (50, 6)
    assert call.latency_ms >= 50
    assert (call.run_id, call.persona_id, call.label) == (12, 345, "participation")
    assert call.messages == fake_llm.requests[0].body["messages"]
    assert json.loads(call.response_text) == {"support": "yes", "confidence": 0.5}
    assert call.parameters["max_tokens"] == 1024


def test_missing_key_is_a_clear_error(fake_llm, monkeypatch):
    from llm.errors import MissingAPIKeyError

    monkeypatch.delenv("OPENAI_API_KEY")
    config = LLMConfig(provider="openai", model="gpt-test", base_url=fake_llm.openai_base_url)

    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        complete_text(config=config, messages=MESSAGES, retry=FAST_RETRY)
    assert fake_llm.requests == []


def test_key_from_secret_file(fake_llm, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    secret = tmp_path / "openai_key"
    secret.write_text("sk-from-file-123\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(secret))
    config = LLMConfig(provider="openai", model="gpt-test", base_url=fake_llm.openai_base_url)

    complete_text(config=config, messages=MESSAGES, retry=FAST_RETRY)

    assert fake_llm.requests[0].headers["authorization"] == "Bearer sk-from-file-123"


def test_keys_are_never_stored(fake_llm):
    from llm.models import CachedResponse

    for provider, base in (
        ("openai", fake_llm.openai_base_url),
        ("anthropic", fake_llm.anthropic_base_url),
        ("compatible", fake_llm.openai_base_url),
    ):
        fake_llm.script(reply({"support": "yes", "confidence": 0.5}))
        config = LLMConfig(provider=provider, model="m", base_url=base)
        complete_structured(config=config, messages=MESSAGES, schema=Verdict, retry=FAST_RETRY)

    rows = [*LLMCall.objects.values(), *CachedResponse.objects.values()]
    assert len(rows) == 6
    dump = json.dumps(rows, default=str)
    for key in (OPENAI_KEY, ANTHROPIC_KEY, COMPATIBLE_KEY):
        assert key not in dump
