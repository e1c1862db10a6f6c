"""The offline chunk path: a chunk's personas answered column-wise and written in bulk.

A backend that can answer a whole frame of personas at once (`answer_frame`, the poll model)
gets its chunk here instead of persona by persona: the chunk's profiles are read in one query
(only the columns the model needs, no Persona instances), each item is predicted for a batch of
personas in one matrix product and its answers drawn in bulk (`position_uniforms`, keyed by the
persona's position, so the answers do not depend on chunk size or order), and the batch's
answers and run-persona records are inserted as rows (COPY on PostgreSQL, one executemany
elsewhere), with the run's counters, in one transaction; on PostgreSQL two batches are written at
once on connections of their own while the next is computed (`_Writes`).

What the offline backend would store per persona and can derive from the profile at any time
(profile.json, the context worded from it, response.json gathered from the answers) is not
stored: a record with none of them is filled on read (`studies.backends.offline.
offline_artefacts_fill`).
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, F
from django.db.models.functions import Least
from django.utils import timezone

from personas.engine.results import STRUCTURED_SOURCE
from personas.models import Persona
from studies.models import Answer, Condition, Item, Run, RunParticipant, RunPersona
from studies.progress import Reporter

# Personas per write transaction (and progress message): large, since a row costs microseconds,
# but at least PROGRESS_STEPS batches a run so a run's page shows the bar move (a 4,000-persona run
# is one chunk: in one batch its bar would jump from 0 to 100).
WRITE_BATCH = 5_000
MIN_WRITE_BATCH = 200
PROGRESS_STEPS = 20


def write_batch_size(personas_total: int) -> int:
    """Personas per write batch for a run of `personas_total`: about 1/PROGRESS_STEPS of the run,
    within [MIN_WRITE_BATCH, WRITE_BATCH]."""
    return max(MIN_WRITE_BATCH, min(WRITE_BATCH, -(-personas_total // PROGRESS_STEPS)))


# The answer fields written per row, in the order of the rows' values.
ANSWER_FIELDS = (
    "run", "persona", "item", "option", "condition", "reasoning", "probabilities", "weight"
)  # fmt: skip
# Profile columns the frame carries (PROFILE_COLUMNS of the poll model, `state` from the area).
_PROFILE = ("sex", "race_ethnicity", "education", "income", "age")


def offline_chunk_process(
    *,
    run: Run,
    items: list[Item],
    backend: Any,
    start: int,
    end: int,
    reporter: Reporter,
    is_cancelled,
) -> int:
    """Answer and store positions [start, end) of the run; returns the personas newly stored.
    Personas already stored (a re-delivered chunk) are skipped."""
    frame = _chunk_frame(run, start, end)
    if frame.empty:
        return 0
    finished = _finished(run, start, end, len(items))
    if finished:
        frame = frame[~frame["id"].isin(finished)].reset_index(drop=True)
    written = 0
    # Collection pauses while rows are built: the cyclic collector would otherwise walk the
    # process's whole heap every few thousand tuples (half the CPU of a chunk, measured).
    collecting = gc.isenabled()
    gc.disable()
    writes = _Writes(on_written=lambda: _progress(run, reporter))
    try:
        size = write_batch_size(run.personas_total)
        for batch_start in range(0, len(frame), size):
            if batch_start and is_cancelled(run.id):
                break
            batch = frame.iloc[batch_start : batch_start + size]
            answers = {item.id: backend.answer_frame(batch, item) for item in items}
            writes.submit(_write, run, items, batch, answers)
            written += len(batch)
    finally:
        try:
            writes.close()
        finally:
            if collecting:
                gc.enable()
    return written


# Batches written at once on PostgreSQL (`_Writes`), each on a connection of its own.
WRITERS = 2


class _Writes:
    """Where a chunk's batches are written, with `on_written()` called on this thread after each,
    in order.

    On PostgreSQL, outside a transaction, up to WRITERS batches are written at once on threads of
    their own (each with its own connection) while the next batch is computed. A batch's writing
    is mostly the database's own work (its foreign-key checks above all: without the constraints
    the database did half as much), and the chunk's thread waited for it. Measured on this
    machine (200,000 personas, one item, PostgreSQL 15, three runs each): written here, 17,200 to
    18,900 personas/s; two at once with the checks at each statement (`_write_settings`),
    22,400 to 23,300; two at once with the checks left to the commit, 17,500 to 20,000.

    Elsewhere (SQLite's single writer, or inside a caller's transaction, which another
    connection could not see) each batch is written here and now. An error of a batch written in
    the background is raised at the next batch or at the end, once the others have finished.
    """

    def __init__(self, *, on_written: Callable[[], None]) -> None:
        self._on_written = on_written
        background = connection.vendor == "postgresql" and not connection.in_atomic_block
        self._pool = (
            ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="offline-writes")
            if background
            else None
        )
        self._pending: list[Future] = []

    def submit(self, fn: Callable[..., None], /, *args: Any) -> None:
        if self._pool is None:
            fn(*args)
            self._on_written()
            return
        while len(self._pending) >= WRITERS:
            self._pending.pop(0).result()
            self._on_written()
        self._pending.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        """Wait for the batches under way (the first error is raised once all have ended), then
        end the threads, closing their connections."""
        if self._pool is None:
            return
        pending, self._pending = self._pending, []
        try:
            for future in pending:
                future.result()
                self._on_written()
        finally:
            futures_wait(pending)
            # One task per thread (the barrier holds each until all have started): each closes
            # its own thread's connection.
            barrier = threading.Barrier(WRITERS)
            closing = [self._pool.submit(_close_connection, barrier) for _ in range(WRITERS)]
            futures_wait(closing)
            self._pool.shutdown()


def _close_connection(barrier: threading.Barrier) -> None:
    barrier.wait(timeout=30)
    connection.close()  # the calling thread's own


def _chunk_frame(run: Run, start: int, end: int) -> pd.DataFrame:
    """id, index (position in the population), the profile columns, state and the condition code
    of each persona of the chunk, in position order: one query, no model instances."""
    columns = ["id", "index", *_PROFILE, "state", "condition"]
    if not run.has_participants:
        rows = (
            Persona.objects.filter(population_id=run.population_id, index__gte=start, index__lt=end)
            .order_by("index")
            .values_list("id", "index", *_PROFILE, "area__state")
        )
        frame = pd.DataFrame(list(rows), columns=columns[:-1])
        frame["condition"] = ""
        return frame
    codes = set(Condition.objects.filter(study_id=run.study_id).values_list("code", flat=True))
    rows = (
        RunParticipant.objects.filter(run_id=run.id, position__gte=start, position__lt=end)
        .order_by("position")
        .values_list(
            "persona_id",
            "persona__index",
            *(f"persona__{c}" for c in _PROFILE),
            "persona__area__state",
            "condition",
        )
    )
    frame = pd.DataFrame(list(rows), columns=columns)
    # A condition the study no longer has is no assignment (as the persona-by-persona path).
    frame.loc[~frame["condition"].isin(codes), "condition"] = ""
    return frame


def _finished(run: Run, start: int, end: int, items: int) -> set[int]:
    """Personas of the chunk already stored: with a record, or (runs from before per-persona
    records) with every answer. The chunk is a subquery, not a list of ids."""
    if run.has_participants:
        chunk = models.Q(
            persona_id__in=RunParticipant.objects.filter(
                run_id=run.id, position__gte=start, position__lt=end
            ).values("persona_id")
        )
    else:
        chunk = models.Q(
            persona__population_id=run.population_id,
            persona__index__gte=start,
            persona__index__lt=end,
        )
    found = set(
        RunPersona.objects.filter(chunk, run_id=run.id).values_list("persona_id", flat=True)
    )
    found |= set(
        Answer.objects.filter(chunk, run_id=run.id)
        .values("persona_id")
        .annotate(n=Count("id"))
        .filter(n=items)
        .values_list("persona_id", flat=True)
    )
    return found


def _write(run: Run, items: list[Item], batch: pd.DataFrame, answers: dict) -> None:
    now = timezone.now()
    ids = batch["id"].tolist()
    conditions = batch["condition"].tolist()
    answer_rows: list[tuple] = []
    for item in items:
        a = answers[item.id]
        answer_rows += zip(
            [run.id] * len(ids),
            ids,
            [item.id] * len(ids),
            a.option_ids,
            conditions,
            a.reasonings,
            _json_objects(a.probabilities),
            a.weights,
            strict=True,
        )
    answer_constants = {"text": "", "think_aloud": "", "created_at": now}
    record_constants = {
        "run": run.id,
        "status": RunPersona.Status.OK.value,
        "failed_step": "",
        "failure": "",
        "narrative_source": STRUCTURED_SOURCE,
        # Derived from the persona on read (offline_artefacts_fill): {} and nulls say so.
        "profile": {},
        "llm_calls": 0,
        "cached_calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost": Decimal("0"),
        "created_at": now,
    }
    n = len(ids)
    with transaction.atomic():
        _write_settings()
        rows_insert(
            RunPersona,
            ["persona"],
            [(i,) for i in ids],
            constants=record_constants,
        )
        rows_insert(
            Answer,
            [*ANSWER_FIELDS],
            answer_rows,
            constants=answer_constants,
        )
        Run.objects.filter(id=run.id).update(
            personas_done=Least(F("personas_done") + n, F("personas_total"))
        )


def _progress(run: Run, reporter: Reporter) -> None:
    current = Run.objects.values("status", "personas_done", "personas_total").get(id=run.id)
    reporter.progress(
        status=current["status"],
        done=current["personas_done"],
        total=current["personas_total"],
        cost=None if run.cost_estimate is None else "0",
    )


def _write_settings() -> None:
    """On PostgreSQL, for this transaction alone: its foreign keys are checked at each statement
    rather than all at the commit (with two batches written at once, measured faster: see
    `_Writes`), and its commit returns before its WAL is flushed to disk (`synchronous_commit`
    off). A database crash can lose the last fraction of a second of commits, never half of one:
    a batch's rows and the run's counter go together, so the run shows fewer personas done;
    answers that cost nothing and are reproducible from the run's seed are worth that. Model
    runs keep waiting for the disk."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def rows_insert(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[tuple],
    *,
    constants: dict[str, Any],
) -> None:
    """Insert `rows` (values of the fields `names`, already in their database form: JSON as
    text) with `constants` (Python values, prepared once by their fields) in every row. A row
    that clashes with a stored one on a unique constraint is skipped (a re-delivered chunk)."""
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(n) for n in (*names, *constants)]
    fixed = tuple(
        json.dumps(v) if isinstance(f, models.JSONField) else _prepared(f, v)
        for f, v in zip(fields[len(names) :], constants.values(), strict=True)
    )
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Straight into the table: the chunk's stored personas were left out before (a
            # re-delivered chunk), so a clash means another delivery of it is writing now. Only
            # then do the rows go through a temporary table and INSERT … ON CONFLICT DO NOTHING
            # (config.bulk), which costs the database a second pass over every row.
            try:
                with transaction.atomic(), connection.wrap_database_errors:
                    _copy(cursor, table, columns, rows, fixed)
                return
            except IntegrityError:
                pass
            target = quote(f"rows_{meta.db_table}")
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DELETE ROWS AS "
                f"SELECT {columns} FROM {table} WITH NO DATA"
            )
            _copy(cursor, target, columns, rows, fixed)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target} "
                "ON CONFLICT DO NOTHING"
            )
            cursor.execute(f"DELETE FROM {target}")
            return
        placeholders = ", ".join(["%s"] * len(fields))
        cursor.executemany(
            f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({placeholders})",
            [row + fixed for row in rows],
        )


def _copy(cursor, table: str, columns: str, rows: Sequence[tuple], fixed: tuple) -> None:
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row + fixed)


def _json_objects(objects: list[dict[str, float]]) -> list[str]:
    """Each {code: probability} as the JSON text json.dumps writes, keys worded once."""
    if not objects:
        return []
    keys = [json.dumps(k) + ": " for k in objects[0]]
    return [
        "{" + ", ".join(k + repr(v) for k, v in zip(keys, o.values(), strict=True)) + "}"
        for o in objects
    ]


def _prepared(field, value):
    if isinstance(value, datetime | Decimal):
        return field.get_db_prep_save(value, connection)
    return value
