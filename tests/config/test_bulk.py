"""config.bulk.bulk_insert on SQLite (one executemany): ids set as bulk_create sets them, values
prepared by each field, conflicts skipped. The PostgreSQL path (COPY) is proven in
tests/integration/test_bulk_postgres.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError

from config.bulk import bulk_insert
from llm.models import CachedResponse, LLMCall

pytestmark = pytest.mark.django_db


def _call(i: int) -> LLMCall:
    return LLMCall(
        provider="openai",
        model="bulk-test",
        messages=[{"role": "user", "content": f'say "{i}"\\n\ttab'}],
        parameters={"seed": i},
        status="ok",
        cache_key=f"bulk-{i}",
        cost=Decimal("0.00012345"),
        response_text="naïve — ünïcode",
        label="context",
    )


def test_rows_get_their_ids_and_values_round_trip():
    calls = [_call(i) for i in range(3)]

    bulk_insert(LLMCall, calls)

    stored = {c.pk: c for c in LLMCall.objects.filter(model="bulk-test")}
    assert [c.pk for c in calls] == sorted(stored) and None not in stored
    assert stored[calls[1].pk].messages == [{"role": "user", "content": 'say "1"\\n\ttab'}]
    assert [stored[c.pk].parameters for c in calls] == [{"seed": 0}, {"seed": 1}, {"seed": 2}]
    assert stored[calls[0].pk].cost == Decimal("0.00012345")
    assert stored[calls[0].pk].response_text == "naïve — ünïcode"
    assert all(stored[c.pk].created_at is not None for c in calls)
    assert not any(c._state.adding for c in calls)


def test_ids_follow_the_tables_sequence_past_deleted_rows():
    bulk_insert(LLMCall, [_call(i) for i in range(5)])
    LLMCall.objects.filter(cache_key__in=["bulk-3", "bulk-4"]).delete()  # the highest ids
    later = [_call(10), _call(11)]

    bulk_insert(LLMCall, later)

    by_key = dict(LLMCall.objects.values_list("cache_key", "pk"))
    assert [c.pk for c in later] == [by_key["bulk-10"], by_key["bulk-11"]]
    assert later[0].pk > max(by_key["bulk-0"], by_key["bulk-2"]) + 2  # ids are never reused


def test_conflicting_rows_are_skipped_and_get_no_id():
    bulk_insert(
        CachedResponse,
        [CachedResponse(key="bulk-a", provider="openai", model="m", response_text="first")],
        ignore_conflicts=True,
    )
    second = [
        CachedResponse(key="bulk-a", provider="openai", model="m", response_text="second"),
        CachedResponse(key="bulk-b", provider="openai", model="m", response_text="new"),
    ]

    bulk_insert(CachedResponse, second, ignore_conflicts=True)

    stored = dict(CachedResponse.objects.values_list("key", "response_text"))
    assert stored == {"bulk-a": "first", "bulk-b": "new"}
    assert [c.pk for c in second] == [None, None]


def test_a_clash_without_ignore_conflicts_writes_nothing():
    bulk_insert(CachedResponse, [CachedResponse(key="k", provider="p", model="m")])
    clash = [
        CachedResponse(key="fresh", provider="p", model="m"),
        CachedResponse(key="k", provider="p", model="m"),
    ]

    with pytest.raises(IntegrityError, match="UNIQUE"):
        bulk_insert(CachedResponse, clash)

    assert list(CachedResponse.objects.values_list("key", flat=True)) == ["k"]


def test_values_that_are_not_plain_are_still_prepared_by_their_field():
    # A choices member (a str subclass) in a CharField and a float in an integer field take the
    # field's preparation; plain values go as they are. Both read back as the field's type.
    call = _call(20)
    call.status = LLMCall.Status.CACHE_HIT
    call.latency_ms = 12.0
    call.parsed_ok = None

    bulk_insert(LLMCall, [call])

    stored = LLMCall.objects.values("status", "latency_ms", "parsed_ok").get(pk=call.pk)
    assert stored == {"status": "cache_hit", "latency_ms": 12, "parsed_ok": None}
    assert type(stored["status"]) is str and type(stored["latency_ms"]) is int


def test_foreign_keys_and_floats_round_trip_given_plainly_or_not(cces_question):
    from polls.models import Respondent

    poll = cces_question.poll
    rows = [
        Respondent(poll_id=poll.pk, external_id="bulk-a", weight=1.25),  # plain int and float
        Respondent(poll=poll, external_id="bulk-b", weight=Decimal("2.5")),  # prepared by the field
        Respondent(poll_id=poll.pk, external_id="bulk-c", weight=3),
    ]

    bulk_insert(Respondent, rows)

    stored = Respondent.objects.filter(external_id__startswith="bulk-").order_by("external_id")
    assert [(r.poll_id, r.weight) for r in stored] == [
        (poll.pk, 1.25),
        (poll.pk, 2.5),
        (poll.pk, 3.0),
    ]
    assert all(type(r.weight) is float for r in stored)
