"""A request chooses neither a server secret nor an arbitrary host: keys by operator-declared alias,
base URLs on an allow-list, checked after DNS resolution, private ranges refused unless allowed."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from llm.errors import OutboundRefusedError
from llm.gateway import LLMConfig, complete_text
from llm.keys import api_key_for
from llm.outbound import base_url_problem
from tests.llm.conftest import FAST_RETRY
from tests.llm.fake_llm_server import reply

MESSAGES = [{"role": "user", "content": "Hello"}]


def _resolving_to(monkeypatch, address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(family, socket.SOCK_STREAM, 6, "", (address, port))],
    )


def test_a_request_cannot_name_an_environment_variable_as_its_key():
    with pytest.raises(ValidationError, match="api_key_env"):
        LLMConfig(provider="openai", model="m", api_key_env="SECRET_KEY")


def test_a_key_alias_must_be_declared_by_the_operator(settings, monkeypatch):
    settings.LLM_KEYS = {"team-openai": "TEAM_OPENAI_KEY"}
    with pytest.raises(ValidationError, match="not a key alias of this server"):
        LLMConfig(provider="openai", model="m", key="SECRET_KEY")
    monkeypatch.setenv("TEAM_OPENAI_KEY", "sk-team-123")
    assert api_key_for(LLMConfig(provider="openai", model="m", key="team-openai")) == "sk-team-123"


@pytest.mark.parametrize(
    ("url", "address", "fragment"),
    [
        ("http://evil.example.net/v1", "93.184.216.34", "not on this server's allow-list"),
        ("http://models.internal.test/v1", "10.1.2.3", "private, loopback or link-local"),
        ("http://models.internal.test/v1", "169.254.169.254", "private, loopback or link-local"),
        ("http://models.internal.test/v1", "fd00::1", "private, loopback or link-local"),
        ("http://user:pw@models.internal.test/v1", "93.184.216.34", "must not carry credentials"),
        ("ftp://models.internal.test/v1", "93.184.216.34", "must be an http(s) URL"),
    ],
)
def test_base_urls_off_the_allow_list_or_resolving_inside_are_refused(
    settings, monkeypatch, url, address, fragment
):
    settings.LLM_ALLOWED_HOSTS = ["models.internal.test"]
    settings.LLM_ALLOWED_NETWORKS = []
    _resolving_to(monkeypatch, address)
    assert fragment in (base_url_problem(url) or "")
    with pytest.raises(ValidationError, match="base_url"):
        LLMConfig(provider="compatible", model="m", base_url=url)


def test_allowed_hosts_take_wildcards_and_public_addresses_pass(settings, monkeypatch):
    settings.LLM_ALLOWED_HOSTS = ["*.models.example.org"]
    settings.LLM_ALLOWED_NETWORKS = []
    _resolving_to(monkeypatch, "93.184.216.34")
    assert base_url_problem("https://eu.models.example.org/v1") is None
    assert "allow-list" in base_url_problem("https://models.example.org.evil.net/v1")


def test_loopback_is_called_only_where_the_operator_allows_it(settings):
    settings.LLM_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.LLM_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert base_url_problem("http://127.0.0.1:8000/v1") is None
    settings.LLM_ALLOWED_NETWORKS = []
    assert "127.0.0.1" in (base_url_problem("http://127.0.0.1:8000/v1") or "")


@pytest.mark.django_db
def test_the_gateway_checks_again_before_it_calls(fake_llm, settings):
    config = LLMConfig(provider="compatible", model="m", base_url=fake_llm.openai_base_url)
    fake_llm.script(reply("hi"))
    settings.LLM_ALLOWED_NETWORKS = []  # the operator closed the door after the run was accepted
    with pytest.raises(OutboundRefusedError, match="private, loopback"):
        complete_text(config=config, messages=MESSAGES, retry=FAST_RETRY)
    assert fake_llm.requests == []
