"""The collector is tuned once in each long-lived process that runs work: a Celery pool process
when it starts, and a web process when it first serves a run on a thread (the embedded default).
The uvicorn start is in test_asgi.py."""

from __future__ import annotations

import gc
import threading

import pytest

from config import collector
from config.collector import GC_THRESHOLD


@pytest.fixture
def untuned():
    before, was_tuned = gc.get_threshold(), collector._tuned
    gc.set_threshold(700, 10, 10)
    collector._tuned = False
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        collector._tuned = was_tuned


def test_a_celery_pool_process_tunes_its_collector_when_it_starts(untuned):
    from config.celery import _trace_worker_process

    _trace_worker_process()
    assert gc.get_threshold() == GC_THRESHOLD
    assert gc.get_freeze_count() > 10_000  # the loaded application, out of the generations
    assert collector.tune_collector() is False  # once a process


def test_serving_a_run_on_a_thread_tunes_the_process_once(untuned, monkeypatch):
    from studies import dispatch

    started = []
    monkeypatch.setattr(dispatch, "_thread_main", started.append)
    dispatch.run_dispatch(run_id=41, executor="thread")
    assert gc.get_threshold() == GC_THRESHOLD and collector._tuned
    frozen = gc.get_freeze_count()
    dispatch.run_dispatch(run_id=42, executor="thread")
    # Not frozen again (that would add every young object): a run's garbage stays collectable.
    # The count may drop: a frozen object freed, such as the first run's thread ending.
    assert gc.get_freeze_count() <= frozen
    for thread in threading.enumerate():
        if thread.name in ("run-41", "run-42"):
            thread.join()
    assert sorted(started) == [41, 42]


def test_running_a_run_inline_leaves_the_collector_alone(untuned, monkeypatch):
    from studies import dispatch

    monkeypatch.setattr(dispatch, "_run_eagerly", lambda run_id: None)
    dispatch.run_dispatch(run_id=43, executor="inline")
    assert gc.get_threshold() == (700, 10, 10) and not collector._tuned
