"""Where the gateway may send a request, and with which key: the operator decides, never a request.

A run's configuration may name a `base_url` (an OpenAI-compatible server) and a key *alias*. The
URL's host must be on the operator's allow-list (`LLM_ALLOWED_HOSTS`: exact names or `*.suffix`),
and every address it resolves to must be public, or inside a network the operator allows
(`LLM_ALLOWED_NETWORKS`, e.g. 127.0.0.0/8 for a model server on the same machine): a request
cannot make the server call its own database, cloud metadata (169.254.169.254) or any other
internal address. The key alias must be one of `LLM_KEYS` (alias -> the environment variable
holding the key), so a request cannot have a server secret such as SECRET_KEY sent anywhere.

The check runs when a configuration is accepted and again before each client is built (the
address a name resolves to may change between the two). A redirect is never followed
(`llm.providers.http`), so an allowed host cannot point the server at another address. The check
does not pin the resolved address for the connection itself: a DNS server answering differently
within milliseconds could still steer one request; an egress proxy or firewall is the complete
answer for hostile DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from llm.errors import OutboundRefusedError


def _host_allowed(host: str) -> bool:
    host = host.lower().rstrip(".")
    for entry in settings.LLM_ALLOWED_HOSTS:
        entry = entry.lower().strip()
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif host == entry.strip("[]"):
            return True
    return False


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.LLM_ALLOWED_NETWORKS]


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global and not address.is_multicast


def base_url_problem(url: str) -> str | None:
    """Why the gateway may not call `url`, or None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"base_url {url!r} is not a valid URL ({exc})."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"base_url {url!r} must be an http(s) URL with a host, e.g. https://host/v1."
    if parts.username or parts.password:
        return "base_url must not carry credentials; keys come from the server's environment."
    host = parts.hostname
    if not _host_allowed(host):
        allowed = ", ".join(settings.LLM_ALLOWED_HOSTS) or "none"
        return (
            f"base_url host '{host}' is not on this server's allow-list (LLM_ALLOWED_HOSTS: "
            f"{allowed}); ask the operator to add it."
        )
    try:
        found = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        return f"base_url host '{host}' cannot be resolved ({exc})."
    networks = _networks()
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if _public(address) or any(address in n for n in networks):
            continue
        return (
            f"base_url host '{host}' resolves to {address}, a private, loopback or link-local "
            "address this server does not call (LLM_ALLOWED_NETWORKS lists the internal "
            "networks an operator allows)."
        )
    return None


def key_env_for(alias: str | None, default: str) -> str:
    """The environment variable holding the key a configuration names by alias (or the
    provider's usual one)."""
    if alias is None:
        return default
    try:
        return settings.LLM_KEYS[alias]
    except KeyError:
        raise OutboundRefusedError(key_alias_problem(alias) or "") from None


def key_alias_problem(alias: str) -> str | None:
    if alias in settings.LLM_KEYS:
        return None
    known = ", ".join(sorted(settings.LLM_KEYS)) or "none are configured"
    return (
        f"key '{alias}' is not a key alias of this server ({known}); an operator declares "
        "aliases in LLM_KEYS. A request names an alias, never an environment variable."
    )


def check_outbound(*, base_url: str | None, key: str | None) -> None:
    """Raise OutboundRefusedError when the configuration names a host or key it may not."""
    problem = (base_url and base_url_problem(base_url)) or (key and key_alias_problem(key))
    if problem:
        raise OutboundRefusedError(problem)
