"""A language-model run on more than one process when no Celery workers run it: lanes.

In the embedded default (no Redis, so no workers) a run's chunks are answered by the process that
started it (`studies.dispatch`: the thread, inline and caller executors). One process holds one
interpreter lock for its event loop, its writer and the personas' own work: in the LLM engine bench
10,000 personas with 200 calls in flight took 1.37 times the ideal in one process, where the calls
alone allow 1.0. Lanes spread the chunks over `RUN_LOCAL_PROCESSES` processes: the calling thread
is one lane, and each process of a pool kept for the life of this one (spawned, `django.setup()`
once each, about 2 s) is another. A lane takes the run's next chunk when it is done with one, and
answers it with its share of the engine's concurrency (`concurrency // lanes`), so the run keeps
the number of calls in flight its config asks for.

What crosses processes is the database: the chunks write their answers and the run's counters as
the workers' do, a chunk checks the run's status to stop when it is cancelled, failed or over its
budget, and this process re-reads the counters to report progress when its own lane has no chunk
left (the in-memory channel layer does not reach other processes). A chunk that raises in a pool
process fails the run with the message a chunk task would store.

Not spread: backends other than the persona engine (`RespondentBackend.spreads_over_processes`),
a provider with rate limits kept in this process (each process would keep the whole limit), runs
under `RUN_LOCAL_PROCESSES_MIN_PERSONAS` personas or of one chunk, and an in-memory SQLite
database (the unit tests'), which no other process can open.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, connections

from config.database import database_shared_with_other_connections
from studies.backends.registry import BACKENDS
from studies.lanes_process import ChunkFailed, answer_chunk, pool_process_start
from studies.models import Run
from studies.pipeline import run_chunks, run_fail, run_process_chunk
from studies.progress import Reporter

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def lane_count(run: Run) -> int:
    """How many processes answer `run`'s chunks when no Celery workers do: 1 unless it may
    spread (see the module's docstring)."""
    wanted = settings.RUN_LOCAL_PROCESSES
    if wanted < 2 or run.personas_total < settings.RUN_LOCAL_PROCESSES_MIN_PERSONAS:
        return 1
    if not BACKENDS[run.backend].spreads_over_processes(run.backend_config):
        return 1
    if not database_shared_with_other_connections():
        return 1
    return max(1, min(wanted, len(run_chunks(run=run))))


@dataclass
class LaneReport:
    """How a run's chunks went: False in `completed` when a chunk failed the run; the personas
    each process answered (by process id)."""

    completed: bool
    personas_by_process: dict[int, int] = field(default_factory=dict)


def run_lanes(*, run: Run, lanes: int, reporter: Reporter) -> LaneReport:
    """Answer every chunk of `run` on `lanes` lanes: the calling thread and `lanes - 1` pool
    processes. Returns when none is answering any more: all chunks done, or the run finished
    meanwhile (cancelled, stopped at its budget, failed by a chunk)."""
    return _Lanes(run=run, lanes=lanes, reporter=reporter).execute()


class _Lanes:
    def __init__(self, *, run: Run, lanes: int, reporter: Reporter) -> None:
        self.run_id = run.id
        self.lanes = lanes
        self.reporter = reporter
        self.chunks = deque(run_chunks(run=run))
        self.lock = threading.Lock()
        self.failed = False
        self.own_lane_done = threading.Event()
        self.report = LaneReport(completed=True)
        # The pool's chunks (and the pool each went to), by their future.
        self.running: dict[Future, tuple[tuple[int, int], ProcessPoolExecutor]] = {}

    def take(self) -> tuple[int, int] | None:
        """The next chunk, or None when there is none, a chunk failed or the run finished."""
        with self.lock:
            if self.failed or not self.chunks:
                return None
        if Run.objects.filter(id=self.run_id, status__in=Run.FINISHED).exists():
            return None
        with self.lock:
            return self.chunks.popleft() if self.chunks and not self.failed else None

    def answered(self, pid: int, personas: int) -> None:
        with self.lock:
            by_process = self.report.personas_by_process
            by_process[pid] = by_process.get(pid, 0) + personas

    def fail(self, message: str) -> None:
        with self.lock:
            self.failed = True
            self.report.completed = False
        run_fail(run_id=self.run_id, message=message, reporter=self.reporter)

    def execute(self) -> LaneReport:
        from studies.tasks import chunk_failure_message  # tasks -> pipeline: import late

        others = threading.Thread(
            target=self._pool_lanes, name=f"lanes-run-{self.run_id}", daemon=True
        )
        others.start()
        try:
            while (chunk := self.take()) is not None:
                start, end = chunk
                try:
                    written = run_process_chunk(
                        run_id=self.run_id,
                        start=start,
                        end=end,
                        reporter=self.reporter,
                        lanes=self.lanes,
                    )
                except Exception as exc:
                    logger.exception("Run %s chunk %s-%s failed", self.run_id, start, end)
                    self.fail(chunk_failure_message(exc, start, end))
                    break
                self.answered(os.getpid(), written)
        finally:
            self.own_lane_done.set()
            others.join()
        return self.report

    def _pool_lanes(self) -> None:
        """The dispatching thread: keeps `lanes - 1` chunks on the pool, the next one handed out
        as one ends, and relays the run's progress once the calling thread's lane is done."""
        relayed = -1
        try:
            for _ in range(self.lanes - 1):
                self._hand_out()
            while self.running:
                finished, _ = wait(self.running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    chunk, pool = self.running.pop(future)
                    if self._collect(future, chunk, pool):
                        self._hand_out()
                if self.own_lane_done.is_set():
                    relayed = self._relay_progress(relayed)
        except Exception:
            logger.exception("Run %s: the lanes of other processes stopped", self.run_id)
            self.fail("an internal error (lanes); the details are in the server log.")
            for future in self.running:  # let the chunks on the pool end before the run is left
                future.exception()
        finally:
            connections.close_all()  # this thread's own connection

    def _hand_out(self) -> None:
        chunk = self.take()
        if chunk is None:
            return
        start, end = chunk
        database = _database_name()
        pool = _pool(self.lanes - 1)
        try:
            future = pool.submit(answer_chunk, self.run_id, start, end, self.lanes, database)
        except RuntimeError:  # that pool was shut down meanwhile (see `_pool`): a new one
            _pool_discard(pool)
            pool = _pool(self.lanes - 1)
            future = pool.submit(answer_chunk, self.run_id, start, end, self.lanes, database)
        self.running[future] = (chunk, pool)

    def _collect(self, future: Future, chunk: tuple[int, int], pool: ProcessPoolExecutor) -> bool:
        """Take a pool chunk's outcome; whether it went well (so the next may be handed out)."""
        start, end = chunk
        try:
            pid, written, events = future.result()
        except ChunkFailed as exc:
            self.fail(str(exc))
            return False
        except BrokenProcessPool:
            _pool_discard(pool)
            self.fail(
                f"Personas {start}–{end - 1} could not be answered: a process answering them "
                "stopped unexpectedly; the answers stored are kept and the run can be resumed."
            )
            return False
        self.answered(pid, written)
        for kind, fields in events:  # what the chunk reported besides progress
            getattr(self.reporter, kind)(**fields)
        return True

    def _relay_progress(self, relayed: int) -> int:
        current = Run.objects.values(
            "status", "personas_done", "personas_total", "cost_spent", "cost_estimate"
        ).get(id=self.run_id)
        if current["personas_done"] != relayed and current["status"] not in Run.FINISHED:
            self.reporter.progress(
                status=current["status"],
                done=current["personas_done"],
                total=current["personas_total"],
                cost=None
                if current["cost_estimate"] is None
                else format(current["cost_spent"], "f"),
            )
        return current["personas_done"]


_POOL: tuple[tuple[int, str], ProcessPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _database_name() -> str:
    return str(connection.settings_dict["NAME"])


def _pool(size: int) -> ProcessPoolExecutor:
    """The process pool of this process, made on first use and kept: its processes are started
    as chunks arrive and stay, with the application loaded, for the next run. It is made as wide
    as `RUN_LOCAL_PROCESSES` allows, so runs of fewer lanes share it; one on another database
    (another test's) or narrower than a run asks (settings changed) is replaced."""
    global _POOL
    wanted = (max(size, settings.RUN_LOCAL_PROCESSES - 1), _database_name())
    with _POOL_LOCK:
        if _POOL is not None and _POOL[0][0] >= size and _POOL[0][1] == wanted[1]:
            return _POOL[1]
        if _POOL is not None:
            _POOL[1].shutdown(wait=False)  # the chunks it has finish; it takes no more
        pool = ProcessPoolExecutor(
            max_workers=wanted[0],
            mp_context=multiprocessing.get_context("spawn"),
            initializer=pool_process_start,
            # The environment's settings module (overridden settings, as a test's, hold none).
            initargs=(
                os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE,
                wanted[1],
            ),
        )
        _POOL = (wanted, pool)
        return pool


def _pool_discard(pool: ProcessPoolExecutor) -> None:
    """Forget a broken pool (a process of it died): the next run starts a new one."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and _POOL[1] is pool:
            _POOL = None


def pool_pids() -> list[int]:
    """The process ids of this process's pool (for the benchmark's CPU and memory figures)."""
    with _POOL_LOCK:
        return [] if _POOL is None else sorted(_POOL[1]._processes or {})
