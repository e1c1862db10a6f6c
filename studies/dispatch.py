"""Hands a committed run to an executor: a Celery chord of chunk tasks ending in aggregation.

RUN_EXECUTOR chooses where the chord runs:
- ``celery`` (REDIS_URL set): sent to the broker; worker processes run the chunks in parallel.
- ``thread`` (embedded default, no Redis): Celery runs the same canvas eagerly on a background
  thread of this process, so a run started from the browser does not block the request; its
  progress reaches this process's WebSockets through the in-memory channel layer. A large
  language-model run spreads its chunks over this process and a pool of others instead
  (`studies.lanes`; also with ``inline`` and ``caller``).
- ``inline``: eagerly, in the calling thread (tests).
- ``caller``: nothing is dispatched; the code that started the run works through it itself with
  `studies.pipeline.run_execute` and a reporter of its own (the command line's progress bar).

Fairness between clients: every chunk message carries a Celery priority (0 first .. 9 last; the
Redis transport keeps one list per level, `CELERY_BROKER_TRANSPORT_OPTIONS`) from its *position in
its owner's backlog*: how many of the owner's chunks are queued ahead of it (the unfinished chunks
of the owner's other runs, then this run's earlier chunks). Levels widen by powers of two (the
1st chunk level 0, the 2nd level 1, the 3rd-4th level 2, ... from the 257th level 9), so a client
with 20,000 personas queued keeps the workers busy, yet another client's new run has its chunks
served before the bulk of that backlog instead of behind all of it.
"""

from __future__ import annotations

import logging
import threading

from celery import chord, group
from django.db import close_old_connections, connections
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from config.background import executor_default
from config.collector import tune_collector
from studies.lanes import lane_count, run_lanes
from studies.models import Run
from studies.pipeline import run_chunks
from studies.progress import ChannelsProgressReporter
from studies.tasks import run_chunk, run_complete

logger = logging.getLogger(__name__)
BROKER_DOWN = (KombuOperationalError, ConnectionError, OSError)


def _broker_down(exc: BaseException) -> bool:
    """The broker or the result store is unreachable: a connection error, or Celery's Redis
    result backend giving up its reconnection ("Retry limit exceeded", a RuntimeError whose cause
    is the connection error)."""
    return isinstance(exc, BROKER_DOWN) or (
        isinstance(exc, RuntimeError) and isinstance(exc.__cause__, (*BROKER_DOWN, RedisError))
    )


PRIORITY_LEVELS = 10  # Celery's 0..9; with Redis, level 0 is served first


def chunk_priority(position: int) -> int:
    """The priority of a chunk with `position` of its owner's chunks queued ahead of it."""
    return min(PRIORITY_LEVELS - 1, position.bit_length())


def owner_backlog(run: Run) -> int:
    """How many chunks of `run`'s owner are still to be done in the owner's other unfinished
    runs (estimated from their progress counters)."""
    others = Run.objects.filter(
        created_by=run.created_by, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).exclude(id=run.id)
    return sum(
        -(-max(0, total - done) // max(1, size))
        for total, done, size in others.values_list("personas_total", "personas_done", "chunk_size")
    )


def run_canvas(run: Run):
    ahead = owner_backlog(run) if run.created_by_id is not None else 0
    header = group(
        run_chunk.si(run.id, start, end).set(priority=chunk_priority(ahead + position))
        for position, (start, end) in enumerate(run_chunks(run=run))
    )
    return chord(header, run_complete.s(run.id))


def _run_eagerly(run_id: int) -> None:
    try:
        run = Run.objects.get(id=run_id)
        lanes = lane_count(run)
        if lanes > 1:
            # The chunks on this process and a pool of others (studies.lanes), then the chord's
            # callback, as the canvas would; a failed chunk has already failed the run.
            report = run_lanes(run=run, lanes=lanes, reporter=ChannelsProgressReporter(run_id))
            logger.info(
                "Run %s: personas answered by process %s", run_id, report.personas_by_process
            )
            if report.completed:
                run_complete.apply(args=(None, run_id))
            return
        # apply(), not apply_async(): eager in this process even when a broker is configured
        # (REDIS_URL set), where apply_async would send the chord to it.
        run_canvas(run).apply()
    except Exception:  # the failing task has already stored the failure on the run
        logger.warning("Run %s stopped with an error", run_id, exc_info=True)


def _thread_main(run_id: int) -> None:
    close_old_connections()
    try:
        _run_eagerly(run_id)
    finally:
        connections.close_all()


def run_dispatch(*, run_id: int, executor: str | None = None) -> None:
    executor = executor or executor_default()
    if executor == "celery":
        try:
            run_canvas(Run.objects.get(id=run_id)).apply_async()
        except Exception as exc:
            if not _broker_down(exc):
                raise
            # The run is committed and stays queued; the watchdog dispatches it when the broker
            # is back. The client got its run id and sees the status.
            logger.error("Run %s could not be queued (broker unavailable): %s", run_id, exc)
    elif executor == "thread":
        # This process serves runs on its threads (the embedded default's web process): its
        # collector is tuned as the workers' are, once (config.collector).
        tune_collector()
        threading.Thread(
            target=_thread_main, args=(run_id,), name=f"run-{run_id}", daemon=True
        ).start()
    elif executor == "inline":
        _run_eagerly(run_id)
    elif executor == "caller":
        pass
    else:
        raise ValueError(f"RUN_EXECUTOR must be celery, thread, inline or caller, not {executor!r}")
