"""config.bulk.bulk_insert on a real PostgreSQL (COPY), run in the stack's own database."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

SCRIPT = """
import json
from decimal import Decimal
from config.bulk import bulk_insert
from llm.models import CachedResponse, LLMCall

calls = [
    LLMCall(provider="openai", model="bulk-test", messages=[{"role": "user", "content": f'say "{i}"\\\\n\\ttab'}],
            parameters={"seed": i}, status="ok", cache_key=f"bulk-{i}", cost=Decimal("0.00012345"),
            response_text="naïve — ünïcode", label="context")
    for i in range(3)
]
bulk_insert(LLMCall, calls)
stored = {c.pk: c for c in LLMCall.objects.filter(model="bulk-test")}
first = [CachedResponse(key="bulk-a", provider="openai", model="m", response_text="first")]
bulk_insert(CachedResponse, first, ignore_conflicts=True)
second = [
    CachedResponse(key="bulk-a", provider="openai", model="m", response_text="second"),
    CachedResponse(key="bulk-b", provider="openai", model="m", response_text="new"),
]
bulk_insert(CachedResponse, second, ignore_conflicts=True)
print("RESULT=" + json.dumps({
    "ids": [c.pk for c in calls],
    "stored_ids": sorted(stored),
    "messages": [stored[c.pk].messages for c in calls],
    "parameters": [stored[c.pk].parameters for c in calls],
    "cost": str(stored[calls[0].pk].cost),
    "text": stored[calls[0].pk].response_text,
    "created": all(stored[c.pk].created_at is not None for c in calls),
    "cache": dict(CachedResponse.objects.filter(key__startswith="bulk-").values_list("key", "response_text")),
    "second_pks": [c.pk for c in second],
}))
"""


def test_bulk_insert_copies_rows_with_ids_and_skips_conflicts(services_stack):
    out = services_stack.manage("shell", "-c", SCRIPT)
    result = json.loads(out.split("RESULT=")[1])

    assert result["ids"] == result["stored_ids"] and None not in result["ids"]
    assert result["messages"][1] == [{"role": "user", "content": 'say "1"\\n\ttab'}]
    assert result["parameters"] == [{"seed": 0}, {"seed": 1}, {"seed": 2}]
    assert result["cost"] == "0.00012345"
    assert result["text"] == "naïve — ünïcode"
    assert result["created"]
    # The stored entry wins over the clashing one; the new key is added.
    assert result["cache"] == {"bulk-a": "first", "bulk-b": "new"}
    assert result["second_pks"] == [None, None]
