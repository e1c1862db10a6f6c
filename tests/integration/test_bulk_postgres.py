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


OFFLINE = """
import json, threading
from django.contrib.auth.models import User
from django.db import transaction
from personas.services import AreaWeight, population_create
from studies import pipeline_offline
from studies.models import Answer, RunPersona, Study
from studies.pipeline import run_process_chunk
from studies.services import run_start

class Recorder:
    def __init__(self):
        self.done = []
    def progress(self, **kw):
        self.done.append(kw["done"])
    def completion(self, **kw):
        pass
    def error(self, **kw):
        pass

user = User.objects.get(username="{username}")
study = Study.objects.get(pk={study})
population = population_create(size=1000, areas=[AreaWeight("dallas_tx_city")], created_by=user,
                               seed=11)

def run_once(*, in_transaction):
    run = run_start(study=study, population=population, seed=5, backend="poll_model",
                    executor="caller", chunk_size=1000)
    reporter = Recorder()
    if in_transaction:  # another connection could not see it: written on this thread
        with transaction.atomic():
            run_process_chunk(run_id=run.id, start=0, end=1000, reporter=reporter)
    else:
        run_process_chunk(run_id=run.id, start=0, end=1000, reporter=reporter)
    picks = sorted(Answer.objects.filter(run=run).values_list("persona__index", "option_id"))
    return run, reporter.done, picks

background, done, picks = run_once(in_transaction=False)
_, done_here, picks_here = run_once(in_transaction=True)

# A second delivery of the chunk that finds nothing stored (as if it raced the first): the rows
# clash, go through the temporary table and are skipped.
pipeline_offline._finished = lambda *args: set()
run_process_chunk(run_id=background.id, start=0, end=1000, reporter=Recorder())

print("RESULT=" + json.dumps({{
    "done": done,
    "done_here": done_here,
    "same_answers": picks == picks_here,
    "answers": len(picks),
    "answers_after_redelivery": Answer.objects.filter(run=background).count(),
    "records_after_redelivery": RunPersona.objects.filter(run=background).count(),
    "writer_threads": [t.name for t in threading.enumerate() if t.name.startswith("offline-")],
}}))
"""


def test_offline_batches_written_on_two_connections_equal_those_written_in_the_chunk(
    services_stack,
):
    study = services_stack.create_study()["id"]
    out = services_stack.manage(
        "shell", "-c", OFFLINE.format(username=services_stack.username, study=study)
    )
    result = json.loads(out.split("RESULT=")[1])

    # 1,000 personas in batches of 200, reported once each is written, in order: the stored
    # count, which may already hold the batch written beside it.
    assert result["done_here"] == [200, 400, 600, 800, 1000]
    assert len(result["done"]) == 5 and result["done"][-1] == 1000
    assert result["done"] == sorted(result["done"]) and result["done"][0] >= 200
    assert result["same_answers"] and result["answers"] == 1000
    assert result["answers_after_redelivery"] == result["records_after_redelivery"] == 1000
    assert result["writer_threads"] == []  # ended with the chunk


LZ4_SCRIPT = """
import json
from django.db import connection
from config.bulk import bulk_insert
from llm.models import LLMCall

prompt = " ".join(f"line {i}: the persona remembers the year {1950 + i % 70}." for i in range(600))
call = LLMCall(provider="openai", model="lz4-test", messages=[{"role": "user", "content": prompt}],
               status="ok", cache_key="lz4-1", response_text=prompt)
bulk_insert(LLMCall, [call])
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT pg_column_compression(messages), pg_column_compression(response_text) "
        "FROM llm_llmcall WHERE id = %s", [call.pk]
    )
    stored = cursor.fetchone()
    cursor.execute(
        "SELECT attrelid::regclass::text || '.' || attname FROM pg_attribute "
        "WHERE attcompression = 'l' ORDER BY 1"
    )
    columns = [row[0] for row in cursor.fetchall()]
print("RESULT=" + json.dumps({
    "stored": stored,
    "columns": columns,
    "round_trip": LLMCall.objects.get(pk=call.pk).messages[0]["content"] == prompt,
}))
"""


def test_large_columns_are_compressed_with_lz4(services_stack):
    out = services_stack.manage("shell", "-c", LZ4_SCRIPT)
    result = json.loads(out.split("RESULT=")[1])

    assert result["stored"] == ["lz4", "lz4"]
    assert result["round_trip"]
    assert result["columns"] == [
        "llm_cachedresponse.response_text",
        "llm_llmcall.messages",
        "llm_llmcall.response_text",
        "studies_runpersona.consistency",
        "studies_runpersona.context",
        "studies_runpersona.experience",
        "studies_runpersona.profile",
        "studies_runpersona.response",
    ]
