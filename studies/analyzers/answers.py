"""A run's answers read in bulk for its results: one row per answer with the persona's area and
demographics, as compact integers from the database.

The answers frame (`questionnaire.answers_frame`) has a few text columns per answer (the
persona's area, demographics and party, the answer's condition) whose values come from short
known lists: the population's areas, the category codes of `environment.categories`, the study's
conditions. The database turns each into its position in that list (a `CASE`), so a million
answers arrive as small integers (which Python does not allocate one by one) in one structured
numpy array, and each text column is built by indexing its few distinct values. The frame is the
one the ORM read gives (same columns, values, dtypes and row order); any value outside the known
lists, or an answer with a choice list, number or text, makes the read fall back to the ORM's.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import reduce

import numpy as np
import pandas as pd
from django.db import connections, router
from django.db.models import Case, IntegerField, Q, Value, When
from django.db.models.functions import Coalesce

from environment.categories import DIMENSIONS, PARTY
from environment.models import Area
from personas.models import PopulationArea
from studies.models import Answer, Condition, Item, Run

#: The persona's profile field with party identification (as in `studies.quality`).
PARTY_FIELD = "persona__profile__party_identification"
#: Item types whose answers are an option only (no choice list, number or text).
CODED_TYPES = frozenset({Item.Type.SINGLE_CHOICE, Item.Type.LIKERT})
#: An answer without an option (a column of its own).
UNKNOWN = -1
#: Added to a row's key for anything the coded read does not know: the read falls back to the
#: ORM's. Below minus every key's largest value, so the key is negative.
OUTSIDE = -(2**40)


def _coded(path: str, values: Sequence[object]) -> Case:
    """The position of the row's value in `values` (None matched by IS NULL), else OUTSIDE."""
    whens = [
        When(Q(**{f"{path}__isnull": True}) if v is None else Q(**{path: v}), then=Value(i))
        for i, v in enumerate(values)
    ]
    return Case(*whens, default=Value(OUTSIDE), output_field=IntegerField())


def _column(values: Sequence[object], codes: np.ndarray) -> pd.Series:
    """The column of `values[codes]`, with the dtype pandas infers for the values present (as
    `DataFrame.from_records` infers it for the whole column)."""
    counts = np.bincount(codes, minlength=len(values))
    present = np.flatnonzero(counts)
    position = np.zeros(len(values), dtype=np.intp)
    position[present] = np.arange(len(present))
    distinct = pd.Series([values[int(i)] for i in present])
    if distinct.dtype == object:
        return pd.Series(np.asarray(distinct, dtype=object)[position[codes]], dtype=object)
    return distinct.take(position[codes]).reset_index(drop=True)


def answers_frame_read(run: Run, columns: dict[str, str]) -> pd.DataFrame | None:
    """The run's answers frame (`columns`: ORM path -> frame column, as
    `questionnaire.FRAME_COLUMNS`) read as coded integers, or None when a value is outside the
    known lists (the caller reads it through the ORM then)."""
    items = list(Item.objects.filter(study_id=run.study_id).values_list("id", "order", "type"))
    if any(kind not in CODED_TYPES for _, _, kind in items):
        return None
    answers = Answer.objects.filter(run=run)
    areas = sorted(
        PopulationArea.objects.filter(population_id=run.population_id).values_list(
            "area_id", flat=True
        )
    )
    conditions = [
        "",
        *Condition.objects.filter(study_id=run.study_id).values_list("code", flat=True),
    ]
    known: dict[str, list] = {
        "condition": conditions,
        "persona__area_id": areas,
        **{f"persona__{d}": list(DIMENSIONS[d]) for d in DIMENSIONS},
        PARTY_FIELD: [None, *PARTY],
    }
    plain = {"id", "persona_id", "item_id", "option_id", "weight", "persona__age"}
    derived = {"choices", "number", "text", "persona__area__state"}
    if set(columns) != plain | derived | set(known):
        return None
    # One integer a row for every coded column: each column's position in its list times the
    # product of the lists' lengths before it. A value outside its list, an answer with a choice
    # list, number or text (types without a small list of values), or a persona of another
    # population (the ORM orders by the population first) adds OUTSIDE: the key is negative.
    coded = list(known.items())
    strides = np.cumprod([1, *(len(values) for _, values in coded)])[:-1]
    key = reduce(
        operator.add,
        [
            _coded(path, values) * Value(int(stride))
            for (path, values), stride in zip(coded, strides, strict=True)
        ],
    )
    key += Case(
        When(Q(choices__isnull=False) | Q(number__isnull=False) | ~Q(text=""), then=OUTSIDE),
        default=0,
        output_field=IntegerField(),
    )
    key += Case(
        When(persona__population_id=run.population_id, then=0),
        default=OUTSIDE,
        output_field=IntegerField(),
    )
    queryset = answers.annotate(_option=Coalesce("option_id", Value(UNKNOWN)), _key=key)
    fields = ["id", "persona_id", "item_id", "_option", "weight", "persona__age"]
    dtype = [(f, np.float64 if f == "weight" else np.int64) for f in fields]
    dtype += [("persona__index", np.int64), ("_key", np.int64)]
    # The rows come unsorted and are put in the ORM's order here (`Answer.Meta.ordering`: within
    # one run and its population, by the persona's index, then the item's order and id), which
    # spares the database a sort of every joined row.
    queryset = queryset.values_list(*fields, "persona__index", "_key").order_by()
    sql, params = queryset.query.sql_with_params()
    with connections[router.db_for_read(Answer)].cursor() as cursor:
        cursor.execute(sql, params)
        rows = np.array(cursor.fetchall(), dtype=dtype)
    if len(rows) == 0 or (rows["_key"] < 0).any():
        return None
    item_order = {item_id: order for item_id, order, _ in items}
    item_ids = np.array(sorted(item_order), dtype=np.int64)
    item_orders = np.array([item_order[i] for i in item_ids], dtype=np.int64)
    position = np.searchsorted(item_ids, rows["item_id"]).clip(max=max(len(item_ids) - 1, 0))
    if len(item_ids) == 0 or (item_ids[position] != rows["item_id"]).any():
        return None  # an answer to an item of another study: ordered by that study first
    rows = rows[np.lexsort((rows["item_id"], item_orders[position], rows["persona__index"]))]
    codes = {
        path: ((rows["_key"] // stride) % len(values)).astype(np.intp)
        for (path, values), stride in zip(coded, strides, strict=True)
    }
    n = len(rows)
    data: dict[str, pd.Series | np.ndarray] = {
        "id": rows["id"],
        "persona_id": rows["persona_id"],
        "item_id": rows["item_id"],
        "weight": rows["weight"],
        "persona__age": rows["persona__age"],
        "choices": pd.Series([None] * n, dtype=object),
        "number": pd.Series([None] * n, dtype=object),
        "text": _column([""], np.zeros(n, dtype=np.intp)),
    }
    options = rows["_option"]
    missing = options == UNKNOWN
    if missing.all():
        data["option_id"] = pd.Series([None] * n, dtype=object)
    elif missing.any():
        data["option_id"] = np.where(missing, np.nan, options.astype(np.float64))
    else:
        data["option_id"] = options
    for path, values in coded:
        data[path] = _column(values, codes[path])
    states = dict(Area.objects.filter(id__in=areas).values_list("id", "state"))
    data["persona__area__state"] = _column([states[a] for a in areas], codes["persona__area_id"])
    frame = pd.DataFrame({frame_column: data[path] for path, frame_column in columns.items()})
    return frame
