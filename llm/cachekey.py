"""The response cache's key, and its version: what decides that two requests get the same reply.

Cache keys are the SHA-256 of provider, base URL, model, sampling parameters, the exact messages
sent (so each structured attempt has its own key and a re-run replays the same attempts) and the
sample index.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from llm.types import LLMConfig, Message

# 2: length-prefixed parts instead of a JSON dump of the request (entries of 1 no longer match).
CACHE_KEY_VERSION = 2


def cache_key(
    *,
    config: LLMConfig,
    messages: Sequence[Message],
    sample_index: int,
    parameters: dict[str, Any] | None = None,
) -> str:
    """The response cache's key: a SHA-256 over what decides a reply (provider, endpoint, model,
    sampling parameters, sample index, then each message's role and content, every part
    length-prefixed so no two requests share a byte stream). The request's head is hashed once per
    distinct head and copied, so a call hashes only its messages: 15-21 µs a call against 55-92 µs
    for the JSON dump of the whole request it replaces (20,000 keys of a 6.5 kB prompt, timed
    alone, interleaved, load 2.8)."""
    params = parameters if parameters is not None else config.parameters()
    digest = _key_head(
        str(config.provider),
        (config.base_url or "").rstrip("/"),
        config.model,
        tuple(sorted(params.items())),  # scalars (LLMConfig.parameters)
        sample_index,
    ).copy()
    parts: list[bytes] = []
    for message in messages:
        for part in (message["role"], message["content"]):
            data = part.encode("utf-8")
            parts += (len(data).to_bytes(8, "big"), data)
    digest.update(b"".join(parts))
    return digest.hexdigest()


@functools.lru_cache(maxsize=256)
def _key_head(
    provider: str, base_url: str, model: str, params: tuple[tuple[str, Any], ...], sample_index: int
):
    head = (
        f"persona-lab-cache-v{CACHE_KEY_VERSION}",
        provider,
        base_url,
        model,
        json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    )
    digest = hashlib.sha256()
    for part in head:
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big") + data)
    digest.update(sample_index.to_bytes(8, "big", signed=True))
    return digest
