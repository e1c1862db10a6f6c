"""The run executor: what the chunk tasks and the chord's callback do with a run.

A chunk answers its personas through the run's backend, up to the backend's concurrency at once
on threads of its own, and writes the results in batches (`_ChunkWriter`), checking between
personas whether the run was cancelled, failed elsewhere or reached its budget. The callback
aggregates the answers when every chunk is done; a failure is stored on the run with its message.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F
from django.db.models.functions import Least
from django.utils import timezone

from config.bulk import bulk_insert
from llm.loops import results_on_loop
from personas.models import Persona
from studies.backends.base import PersonaResult, RespondentBackend
from studies.backends.registry import BACKENDS
from studies.influence.compute import influence_simulation_compute
from studies.models import Answer, Condition, Item, Run, RunParticipant, RunPersona
from studies.pipeline_offline import offline_chunk_process
from studies.progress import Reporter
from studies.results import run_results_compute

logger = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 0.5


def run_chunks(*, run: Run) -> list[tuple[int, int]]:
    """Half-open persona index ranges, one per chunk task."""
    return [
        (start, min(start + run.chunk_size, run.personas_total))
        for start in range(0, run.personas_total, run.chunk_size)
    ]


def _is_cancelled(run_id: int) -> bool:
    # Any finished state stops a chunk: cancelled, or failed (or completed) by another worker.
    return Run.objects.filter(id=run_id, status__in=Run.FINISHED).exists()


def run_process_chunk(
    *, run_id: int, start: int, end: int, reporter: Reporter, lanes: int = 1
) -> int:
    """Answer every item for the personas with index in [start, end); skip work already stored.

    Returns the number of personas newly processed (answered or failed). Safe to call twice for
    the same chunk. A backend with concurrency > 1 answers that many personas at once on threads;
    results are written here, in batches, by the calling thread. With `lanes` > 1 the run's
    chunks are answered by that many processes at once (`studies.lanes`), and this one takes its
    share of the backend's concurrency.
    """
    run = Run.objects.select_related("study", "population").get(id=run_id)
    if run.is_finished:
        return 0
    Run.objects.filter(id=run_id, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=timezone.now()
    )
    items = list(
        Item.objects.filter(study_id=run.study_id)
        .select_related("poll_question__poll")
        .prefetch_related("options")
    )
    backend_cls = BACKENDS[run.backend]
    if callable(getattr(backend_cls, "answer_frame", None)):
        # The offline chunk path (studies/pipeline_offline.py): the chunk column-wise, in bulk.
        return offline_chunk_process(
            run=run,
            items=items,
            backend=backend_cls(run, items),
            start=start,
            end=end,
            reporter=reporter,
            is_cancelled=_is_cancelled,
        )
    personas, assigned = _chunk_personas(run, start, end)
    finished = set(
        RunPersona.objects.filter(run_id=run_id, persona__in=personas).values_list(
            "persona_id", flat=True
        )
    )
    # Runs from before per-persona records: a persona with every answer stored is finished too.
    finished |= set(
        Answer.objects.filter(run_id=run_id, persona__in=personas)
        .values("persona_id")
        .annotate(n=Count("id"))
        .filter(n=len(items))
        .values_list("persona_id", flat=True)
    )
    todo = [p for p in personas if p.id not in finished]
    if not todo:
        return 0
    backend = BACKENDS[run.backend](run, items)
    backend.assigned = assigned
    backend.concurrency = max(1, backend.concurrency // lanes)
    writer = _ChunkWriter(
        run=run, reporter=reporter, batch=backend.write_batch, interval=backend.write_interval
    )
    writer.conditions = {pid: c.code for pid, c in assigned.items()}
    last_check = time.monotonic()
    dropped: list[PersonaResult] = []
    results = _persona_results(backend, todo, dropped=dropped, separate_reads=lanes > 1)
    try:
        for persona, result in results:
            writer.add(persona, result)
            if writer.over_budget():
                writer.flush()
                run_stop_at_budget(run_id=run_id, reporter=reporter)
                break
            if writer.due():
                writer.flush()
            if time.monotonic() - last_check > CANCEL_CHECK_SECONDS:
                last_check = time.monotonic()
                if _is_cancelled(run_id):
                    break
    finally:
        results.close()  # stops handing out personas; those in flight finish and are dropped
        for result in dropped:
            writer.add_calls(result)
        # Also when a persona raised for the whole run: the personas answered before it are kept
        # (a resumed run skips them) and every model call made is logged.
        writer.flush()
    return writer.written


def _chunk_personas(run: Run, start: int, end: int) -> tuple[list[Persona], dict[int, Condition]]:
    """The chunk's personas (positions [start, end) of the run's participants, or persona indexes
    [start, end) of its population when it has none) and the condition each was assigned to."""
    if not run.has_participants:
        personas = list(
            Persona.objects.filter(population_id=run.population_id, index__gte=start, index__lt=end)
            .select_related("area")
            .order_by("index")
        )
        return personas, {}
    conditions = {c.code: c for c in Condition.objects.filter(study_id=run.study_id)}
    participants = list(
        RunParticipant.objects.filter(run_id=run.id, position__gte=start, position__lt=end)
        .select_related("persona__area")
        .order_by("position")
    )
    assigned = {
        p.persona_id: conditions[p.condition] for p in participants if p.condition in conditions
    }
    return [p.persona for p in participants], assigned


def _persona_results(
    backend: RespondentBackend,
    personas: list[Persona],
    *,
    dropped: list[PersonaResult] | None = None,
    separate_reads: bool = False,
) -> Generator[tuple[Persona, PersonaResult], None, None]:
    """(persona, result) as each finishes; up to backend.concurrency at once, as tasks of one event
    loop for a backend that answers asynchronously (the LLM backend, its reads on a connection of
    their own with `separate_reads`), else on threads. When the consumer stops early, the results
    of personas still in flight go to `dropped`."""
    concurrency = max(1, backend.concurrency)
    answer_async = getattr(backend, "aanswer_persona", None)
    if answer_async is not None:
        # `concurrency` bounds the requests on the wire; more personas than that are under way,
        # so a request slot freed while its persona builds the next prompt, reads the cache or
        # waits for the writer is taken by another persona ready to send.
        yield from results_on_loop(
            answer_async,
            personas,
            concurrency=concurrency + persona_headroom(concurrency),
            requests=concurrency,
            dropped=dropped,
            separate_reads=separate_reads,
        )
    elif concurrency == 1:
        for persona in personas:
            yield persona, backend.answer_persona(persona)
    else:
        yield from _threaded_persona_results(backend, personas, concurrency, dropped)


def persona_headroom(concurrency: int) -> int:
    """Personas under way beyond the requests in flight. Between two calls a persona spends a
    few milliseconds on its own work, and up to a writer's flush (tens of milliseconds) waiting
    for its cache look-up, which the calling thread serves. In the LLM engine bench (1,000
    personas, 50 requests in flight) 6, 12 or 25 more personas under way all took the run from
    1.17-1.19 to 1.07-1.10 times the ideal, at some CPU a call (the loop's thread and the writer
    contend for the interpreter lock more often; more so with 25 than with 6 or 12): a quarter
    more is kept. Below 4 requests at once there is none: a run of one request at a time takes
    its personas one at a time."""
    return concurrency // 4


def _threaded_persona_results(
    backend: RespondentBackend,
    personas: list[Persona],
    concurrency: int,
    dropped: list[PersonaResult] | None,
) -> Generator[tuple[Persona, PersonaResult], None, None]:
    # Worker threads of this chunk's own, each keeping one database connection for the chunk and
    # closing it when it ends: a connection per persona cost a connect, its setup pragmas and a
    # schema read a thousand times a chunk. Each thread takes its next persona itself as soon as
    # it is done with one, so at most `concurrency` are in flight; handing them out from the
    # consuming thread made every thread wait for it, while it wrote a batch, ~80 ms a persona.
    # Closing the generator stops the hand-outs; the personas in flight finish.
    done: queue.SimpleQueue[tuple[Persona | None, PersonaResult | None, BaseException | None]] = (
        queue.SimpleQueue()
    )
    pending = iter(personas)
    handing_out = threading.Lock()
    stop = threading.Event()

    def next_persona() -> Persona | None:
        with handing_out:
            return None if stop.is_set() else next(pending, None)

    def work() -> None:
        try:
            while (persona := next_persona()) is not None:
                try:
                    done.put((persona, backend.answer_persona(persona), None))
                except BaseException as exc:  # re-raised in the consuming thread, as a future would
                    done.put((persona, None, exc))
        finally:
            connection.close()  # this thread's own database connection
            done.put((None, None, None))  # this worker has stopped

    workers = [
        threading.Thread(target=work, name=f"run-persona_{i}", daemon=True)
        for i in range(min(concurrency, len(personas)))
    ]
    for worker in workers:
        worker.start()
    running = len(workers)
    try:
        while running:
            finished, result, error = done.get()
            if finished is None:
                running -= 1
                continue
            if error is not None:
                raise error
            assert result is not None  # a worker puts either a result or an error
            yield finished, result
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        while dropped is not None and not done.empty():
            _, result, _ = done.get()
            if result is not None:
                dropped.append(result)


class _ChunkWriter:
    """Buffers finished personas and writes them (answers, records, usage) in one transaction."""

    def __init__(
        self, *, run: Run, reporter: Reporter, batch: int, interval: float | None = None
    ) -> None:
        self.run = run
        self.reporter = reporter
        self.batch = batch
        self.interval = interval
        self.flushed_at = time.monotonic()
        self.answers: list[Answer] = []
        # Persona id -> the code of the condition it was assigned to (runs with conditions).
        self.conditions: dict[int, str] = {}
        self.records: list[RunPersona] = []
        self.failed = 0
        self.calls: list = []  # the personas' unwritten model calls (CallBuffers)
        self.cost = Decimal("0")
        self.cost_known = True
        self.usage = {"llm_calls": 0, "cached_calls": 0, "input_tokens": 0, "output_tokens": 0}
        self.written = 0
        # The run's stored spending (every chunk's), re-read at most every CANCEL_CHECK_SECONDS
        # and kept up to date with this chunk's own flushes in between.
        self.stored_spent = run.cost_spent or Decimal("0")
        self.stored_read_at = time.monotonic()

    @property
    def pending(self) -> int:
        return len(self.records)

    def due(self) -> bool:
        """Whether the personas waiting should be written now: `batch` of them, or (with an
        interval) any once `interval` seconds have passed since the last write."""
        if self.pending >= self.batch:
            return True
        return (
            self.interval is not None
            and self.pending > 0
            and time.monotonic() - self.flushed_at >= self.interval
        )

    def add_calls(self, result: PersonaResult) -> None:
        """Only the persona's model calls: they were made (and billed), so they are logged even
        when the persona itself is dropped (in flight when the run stopped)."""
        if result.calls:
            self.calls.append(result.calls)

    def add(self, persona: Persona, result: PersonaResult) -> None:
        self.add_calls(result)
        for item_id, draft in result.answers.items():
            self.answers.append(
                Answer(
                    run_id=self.run.id,
                    persona=persona,
                    item_id=item_id,
                    option_id=draft.option_id,
                    choices=draft.choices,
                    number=draft.number,
                    text=draft.text,
                    condition=self.conditions.get(persona.id, ""),
                    reasoning=draft.reasoning,
                    think_aloud=draft.think_aloud,
                    time_on_task_seconds=draft.time_on_task_seconds,
                    probabilities=draft.probabilities,
                    weight=draft.weight,
                )
            )
        self.records.append(
            RunPersona(
                run_id=self.run.id,
                persona=persona,
                status=RunPersona.Status.OK if result.ok else RunPersona.Status.FAILED,
                failed_step=result.failed_step,
                failure=result.failure,
                narrative_source=result.narrative_source,
                profile=result.profile,
                context=result.context,
                consistency=result.consistency,
                experience=result.experience,
                response=result.response,
                llm_calls=result.llm_calls,
                cached_calls=result.cached_calls,
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                cost=result.cost,
            )
        )
        self.failed += int(not result.ok)
        if result.cost is None:
            self.cost_known = False
        else:
            self.cost += result.cost
        for key, value in result.usage_counts.items():
            self.usage[key] += value

    def over_budget(self) -> bool:
        budget = self.run.budget
        if budget is None:
            return False
        if time.monotonic() - self.stored_read_at > CANCEL_CHECK_SECONDS:
            self.stored_spent = Run.objects.values_list("cost_spent", flat=True).get(id=self.run.id)
            self.stored_read_at = time.monotonic()
        return self.stored_spent + self.cost >= budget

    def _write_calls(self) -> None:
        if not self.calls:
            return
        first, *rest = self.calls
        for other in rest:
            first.extend(other)
        first.flush()
        self.calls = []

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.records:
            with transaction.atomic():
                self._write_calls()
            return
        n = len(self.records)
        with transaction.atomic():
            self._write_calls()
            # A re-delivered chunk finds its personas stored: those rows are skipped.
            bulk_insert(RunPersona, self.records, ignore_conflicts=True)
            bulk_insert(Answer, self.answers, ignore_conflicts=True)
            updates: dict[str, Any] = {
                "personas_done": Least(F("personas_done") + n, F("personas_total")),
                "personas_failed": F("personas_failed") + self.failed,
                "cost_spent": F("cost_spent") + self.cost,
                **{key: F(key) + value for key, value in self.usage.items()},
            }
            if not self.cost_known:
                updates["cost_complete"] = False
            Run.objects.filter(id=self.run.id).update(**updates)
        self.written += n
        self.answers, self.records, self.failed = [], [], 0
        self.cost, self.cost_known = Decimal("0"), True
        self.usage = dict.fromkeys(self.usage, 0)
        current = Run.objects.values("status", "personas_done", "personas_total", "cost_spent").get(
            id=self.run.id
        )
        self.stored_spent, self.stored_read_at = current["cost_spent"], time.monotonic()
        self.reporter.progress(
            status=current["status"],
            done=current["personas_done"],
            total=current["personas_total"],
            cost=None if self.run.cost_estimate is None else format(current["cost_spent"], "f"),
        )


def run_stop_at_budget(*, run_id: int, reporter: Reporter) -> None:
    """Stop a running run whose spending reached its budget; what was answered is kept and
    aggregated."""
    updated = Run.objects.filter(
        id=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(
        status=Run.Status.STOPPED,
        finished_at=timezone.now(),
        error_message="Stopped at the budget cap: the personas answered so far are kept.",
    )
    if updated:
        run = Run.objects.get(id=run_id)
        Run.objects.filter(id=run_id).update(results=run_results_compute(run=run))
        reporter.completion(status=run.status, done=run.personas_done, total=run.personas_total)


def run_execute(*, run_id: int, reporter: Reporter) -> Run:
    """Work through a run's chunks in the calling thread (and a pool of processes when the run
    spreads, `studies.lanes`), then aggregate, telling `reporter` as each batch is stored (a run
    started with the ``caller`` executor: the command line). A chunk that raises fails the run,
    as a chunk task does."""
    from studies.lanes import lane_count, run_lanes  # lanes -> pipeline: import late

    run = Run.objects.get(id=run_id)
    lanes = lane_count(run)
    if lanes > 1:
        if not run_lanes(run=run, lanes=lanes, reporter=reporter).completed:
            return Run.objects.get(id=run_id)  # a chunk failed the run
        return run_finalize(run_id=run_id, reporter=reporter)
    for start, end in run_chunks(run=run):
        try:
            run_process_chunk(run_id=run_id, start=start, end=end, reporter=reporter)
        except Exception as exc:
            logger.exception("Run %s chunk %s-%s failed", run_id, start, end)
            run_fail(
                run_id=run_id,
                message=f"Personas {start}–{end - 1} could not be answered: {exc}",
                reporter=reporter,
            )
            return Run.objects.get(id=run_id)
        if Run.objects.filter(id=run_id, status__in=Run.FINISHED).exists():
            return Run.objects.get(id=run_id)  # cancelled or stopped at the budget meanwhile
    return run_finalize(run_id=run_id, reporter=reporter)


def run_finalize(*, run_id: int, reporter: Reporter) -> Run:
    """Aggregate the stored answers into results and mark the run completed."""
    run = Run.objects.get(id=run_id)
    if run.status == Run.Status.STOPPED:
        # Chunks still in flight when the cap was reached may have added answers since.
        Run.objects.filter(id=run_id).update(results=run_results_compute(run=run))
        run.refresh_from_db()
        return run
    if run.status in (Run.Status.FAILED, Run.Status.CANCELLED):
        return run
    results = run_results_compute(run=run)
    # A multi-agent run's influence step: before "completed", so its results are there when the
    # run says it is done, and a failure fails the run (run_complete stores it).
    influence_simulation_compute(run=run, reporter=reporter)
    # Processed personas: those answered and those the backend recorded as failed.
    done = results["personas_answered"] + run.personas_failed
    updated = Run.objects.filter(
        id=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(
        status=Run.Status.COMPLETED, personas_done=done, results=results, finished_at=timezone.now()
    )
    run.refresh_from_db()
    if updated:
        reporter.completion(status=run.status, done=run.personas_done, total=run.personas_total)
    return run


def run_fail(*, run_id: int, message: str, reporter: Reporter) -> None:
    """Record a failure with its message; a finished run keeps its final state."""
    updated = Run.objects.filter(
        id=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(status=Run.Status.FAILED, error_message=message[:4000], finished_at=timezone.now())
    if updated:
        run = Run.objects.get(id=run_id)
        reporter.error(message=message, done=run.personas_done, total=run.personas_total)
