"""The offline chunk path: a chunk's personas answered column-wise and written in bulk.

A backend that can answer a whole frame of personas at once (`answer_frame`, the poll model)
gets its chunk here instead of persona by persona: the chunk's profiles are read in one query
(only the columns the model needs, no Persona instances), each item is predicted for a batch of
personas in one matrix product and its answers drawn in bulk (`position_uniforms`, keyed by the
persona's position, so the answers do not depend on chunk size or order), and the batch's
answers and run-persona records are inserted as rows (COPY on PostgreSQL, one executemany
elsewhere), with the run's counters, in one transaction.

What the offline backend would store per persona and can derive from the profile at any time
(profile.json, the context worded from it, response.json gathered from the answers) is not
stored: a record with none of them is filled on read (`studies.backends.offline.
offline_artefacts_fill`).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db import connection, models, transaction
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
    try:
        size = write_batch_size(run.personas_total)
        for batch_start in range(0, len(frame), size):
            if batch_start and is_cancelled(run.id):
                break
            batch = frame.iloc[batch_start : batch_start + size]
            answers = {item.id: backend.answer_frame(batch, item) for item in items}
            _write(run, items, batch, answers, reporter)
            written += len(batch)
    finally:
        if collecting:
            gc.enable()
    return written


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


def _write(
    run: Run, items: list[Item], batch: pd.DataFrame, answers: dict, reporter: Reporter
) -> None:
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
    current = Run.objects.values("status", "personas_done", "personas_total").get(id=run.id)
    reporter.progress(
        status=current["status"],
        done=current["personas_done"],
        total=current["personas_total"],
        cost=None if run.cost_estimate is None else "0",
    )


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
            # COPY into a temporary table, then INSERT … ON CONFLICT DO NOTHING (config.bulk).
            target = quote(f"rows_{meta.db_table}")
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DELETE ROWS AS "
                f"SELECT {columns} FROM {table} WITH NO DATA"
            )
            with cursor.cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + fixed)
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
