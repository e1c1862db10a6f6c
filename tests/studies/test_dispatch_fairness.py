"""One client's 20,000-persona run does not starve another client's run: chunk messages carry a
Celery priority from their position in their owner's backlog (studies.dispatch).

The broker is modelled as the Redis transport serves with `queue_order_strategy: priority`: one
list per level, the lowest level first, first in first out within a level. The first client's
20,000 one-persona chunks are all queued before the second client's run arrives (the worst case
for the second client)."""

from __future__ import annotations

import pytest

from studies.dispatch import chunk_priority, owner_backlog, run_canvas
from studies.models import Run
from studies.services import run_start

pytestmark = pytest.mark.django_db


def _run(study, population, user, *, personas: int, chunk_size: int) -> Run:
    run = run_start(
        study=study, population=population, seed=1, backend="poll_cell", created_by=user
    )
    # The canvas depends only on these two: no need to draw 20,000 personas for the test.
    Run.objects.filter(id=run.id).update(personas_total=personas, chunk_size=chunk_size)
    run.refresh_from_db()
    return run


def _messages(run: Run) -> list[tuple[int, int, int]]:
    """(priority, run id, start) of each chunk message, in publishing order."""
    return [
        (task.options["priority"], task.args[0], task.args[1]) for task in run_canvas(run).tasks
    ]


def _delivery_order(*published: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    queue = [message for messages in published for message in messages]
    order = sorted(range(len(queue)), key=lambda seq: (queue[seq][0], seq))
    return [(queue[seq][1], queue[seq][2]) for seq in order]


def test_a_second_clients_run_is_served_while_the_first_clients_backlog_is_long(
    study, population, user, django_user_model
):
    other = django_user_model.objects.create_user("second-client", password="x" * 16)
    big = _run(study, population, user, personas=20_000, chunk_size=1)
    small = _run(study, population, other, personas=240, chunk_size=60)

    order = _delivery_order(_messages(big), _messages(small))
    assert len(order) == 20_000 + 4
    last_small = max(i for i, (run_id, _) in enumerate(order) if run_id == small.id)
    big_served_first = sum(1 for run_id, _ in order[:last_small] if run_id == big.id)
    # All of the second run is served after a few hundred of the first run's chunks, with
    # over 19,000 of them still queued; without priorities it would wait for all 20,000.
    assert big_served_first < 400
    assert 20_000 - big_served_first > 19_000
    # The first client is not starved either: its first chunk goes first.
    assert order[0] == (big.id, 0)


def test_a_clients_second_run_queues_behind_its_own_backlog(
    study, population, user, django_user_model
):
    first = _run(study, population, user, personas=20_000, chunk_size=1)
    Run.objects.filter(id=first.id).update(personas_done=19_000)
    second = _run(study, population, user, personas=240, chunk_size=60)
    assert owner_backlog(second) == 1_000
    # Its chunks start at the owner's 1,001st position, not at the front like a new client's.
    assert {p for p, _, _ in _messages(second)} == {chunk_priority(1_000)} == {9}
    other = django_user_model.objects.create_user("newcomer", password="x" * 16)
    assert [
        p for p, _, _ in _messages(_run(study, population, other, personas=240, chunk_size=60))
    ] == [0, 1, 2, 2]


def test_priority_levels_widen_by_powers_of_two():
    assert [chunk_priority(n) for n in (0, 1, 2, 3, 4, 7, 8, 255, 256, 10**6)] == [
        0, 1, 2, 2, 3, 3, 4, 8, 9, 9,
    ]  # fmt: skip
