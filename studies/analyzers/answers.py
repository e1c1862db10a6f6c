"""A run's answers read in bulk for its results: one row per answer with the persona's area and
demographics, as two or three packed integers from the database.

The answers frame (`questionnaire.answers_frame`) has, per answer, two ids and a handful of small
values: the persona's position and age, the item, the option, whether the weight is 1, and text
columns (the persona's area, demographics and party, the answer's condition). Item and option
come from the study's lists, the texts from short known lists (the population's areas, the
category codes of `environment.categories`, the study's conditions). The database turns each
into a small integer (a value into its position in its list) and packs them as bit fields into
as few 64-bit integers as hold them, each id above the small values of one of them; numpy
unpacks them by shifts, and each text column is built by indexing its few distinct values. The
weights that are not 1 are read apart. The frame is the one the ORM read gives (same columns,
values, dtypes and row order); any value outside the known lists or ranges, or an answer with a
choice list, number or text, makes the read fall back to the ORM's. Python makes two or three
objects a row instead of eight, which at a million answers was most of the read.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd
from django.db import connections, router
from django.db.models import BigIntegerField, Case, F, Func, Q, Value, When
from django.db.models.expressions import Expression
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce

from environment.categories import DIMENSIONS, PARTY
from environment.models import Area
from personas.models import Population, PopulationArea
from studies.models import Answer, Condition, Item, ItemOption, Run

#: The persona's profile field with party identification (as in `studies.quality_frames`).
PARTY_FIELD = "persona__profile__party_identification"
#: Item types whose answers are an option only (no choice list, number or text).
CODED_TYPES = frozenset({Item.Type.SINGLE_CHOICE, Item.Type.LIKERT})
#: The bits of a packed integer: its digits never overflow a signed 64-bit integer, on either
#: database.
PACKED_BITS = 62
#: The ids of answers and personas the packed read takes are below 2**TOP_BITS at least
#: (beyond, the ORM's).
TOP_BITS = 36


class _Position(Func):
    """The position of the expression's value in `values` (a simple CASE, which evaluates the
    value once where it is in the list), NULL for any other value; None in `values` is matched
    by IS NULL."""

    output_field = BigIntegerField()

    def __init__(self, expression: Expression | str, values: Sequence[object]) -> None:
        super().__init__(F(expression) if isinstance(expression, str) else expression)
        self.values = list(values)

    def as_sql(
        self,
        compiler,
        connection,
        function=None,
        template=None,
        arg_joiner=None,
        **extra_context,
    ):
        value_sql, value_params = compiler.compile(self.source_expressions[0])
        known = [(i, v) for i, v in enumerate(self.values) if v is not None]
        whens = " ".join(f"WHEN %s THEN {i}" for i, _ in known)
        params = [*value_params, *(v for _, v in known)]
        if None not in self.values:
            return (f"CASE {value_sql} {whens} END", tuple(params)) if known else ("NULL", ())
        null = f"CASE WHEN {value_sql} IS NULL THEN {self.values.index(None)} END"
        if not known:
            return null, tuple(value_params)
        return f"CASE {value_sql} {whens} ELSE {null} END", (*params, *value_params)


class _Int64(Func):
    """The expression as a 64-bit integer: cast on PostgreSQL, whose arithmetic on small
    integers is 32-bit (SQLite's integers are 64-bit)."""

    template = "CAST(%(expressions)s AS bigint)"
    output_field = BigIntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return compiler.compile(self.source_expressions[0])


@dataclass(frozen=True)
class _Digit:
    """One packed value: an expression giving 0..radix-1, NULL for a value the read does not
    know."""

    name: str
    expression: Expression
    radix: int


def _below(name: str, path: str, bound: int) -> _Digit:
    """A column of non-negative integers (a positive field's, or an id, whose negative value
    makes the packed integer negative), known to lie below `bound`."""
    inside = Case(When(**{f"{path}__lt": bound}, then=F(path)), output_field=BigIntegerField())
    return _Digit(name, inside, bound)


def _guard(name: str, condition: Q) -> _Digit:
    """0 where `condition` holds, NULL (the ORM read) elsewhere."""
    return _Digit(name, Case(When(condition, then=Value(0)), output_field=BigIntegerField()), 1)


def _packed(digits: list[_Digit], tops: list[str]) -> list[list[tuple[_Digit, int]]]:
    """The digits packed as bit fields (unpacked by shifts, which numpy vectorises, not
    divisions) into integers below 2**PACKED_BITS, each digit with its shift: one integer for
    each of `tops` (id columns without a known bound), whose value takes the bits above its
    integer's small digits, at least TOP_BITS of them, and more integers for what does not fit
    below them (first fit, widest first)."""
    caps = [PACKED_BITS - TOP_BITS] * len(tops)
    columns: list[list[tuple[_Digit, int]]] = [[] for _ in tops]
    used = [0] * len(tops)
    for digit in sorted(digits, key=lambda d: d.radix, reverse=True):
        bits = (digit.radix - 1).bit_length()
        c = next((c for c, u in enumerate(used) if u + bits <= caps[c]), None)
        if c is None:
            caps.append(PACKED_BITS)
            columns.append([])
            used.append(0)
            c = len(columns) - 1
        columns[c].append((digit, used[c]))
        used[c] += bits
    for c, path in enumerate(tops):
        columns[c].append((_below(path, path, 2 ** (PACKED_BITS - used[c])), used[c]))
    return columns


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


def _text(path: str) -> KeyTextTransform:
    """A JSON field's key as text (a JSON string's value) on either database."""
    field, key = path.rsplit("__", 1)
    return KeyTextTransform(key, field)


def _digits(run: Run, known: dict[str, list]) -> list[_Digit]:
    """What a row packs besides its ids: the persona's index and age below their bounds,
    whether its weight is 1, each known list's position (`known`: ORM path -> its values), and
    the guards that send anything else to the ORM read."""
    size = Population.objects.values_list("size", flat=True).get(id=run.population_id)
    unit_weight = Case(
        When(weight=1.0, then=Value(1)), default=Value(0), output_field=BigIntegerField()
    )
    return [
        _below("persona__index", "persona__index", max(size, 1)),
        _below("persona__age", "persona__age", 256),
        _Digit("unit_weight", unit_weight, 2),
        *(
            _Digit(
                path, _Position(_text(path) if path == PARTY_FIELD else path, values), len(values)
            )
            for path, values in known.items()
        ),
        # An answer with a choice list, number or text (types without a small list of values),
        # or a persona of another population (the ORM orders by the population first).
        _guard("plain", Q(choices__isnull=True, number__isnull=True, text="")),
        _guard("population", Q(persona__population_id=run.population_id)),
    ]


def _fetch(run: Run, digits: list[_Digit]) -> dict[str, np.ndarray] | None:
    """Every answer's digits, unpacked (unordered), or None when a row has a value the read
    does not know."""
    columns = _packed(digits, ["id", "persona_id"])
    annotations = {
        f"_packed{c}": Coalesce(
            reduce(
                operator.add,
                [
                    d.expression
                    if shift == 0 or d.radix == 1
                    else _Int64(d.expression) * Value(2**shift)
                    for d, shift in column
                ],
            ),
            Value(-1),
            output_field=BigIntegerField(),
        )
        for c, column in enumerate(columns)
    }
    queryset = (
        Answer.objects.filter(run=run).annotate(**annotations).values_list(*annotations).order_by()
    )
    sql, params = queryset.query.sql_with_params()
    with connections[router.db_for_read(Answer)].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    packed = np.fromiter(
        itertools.chain.from_iterable(rows), dtype=np.int64, count=len(rows) * len(columns)
    ).reshape(len(rows), len(columns))
    del rows
    if len(packed) == 0 or (packed < 0).any():
        return None
    # A digit of one value (a guard, the only item or condition) has no bits: it is 0.
    return {
        digit.name: (packed[:, c] >> shift) & (2 ** (digit.radix - 1).bit_length() - 1)
        for c, column in enumerate(columns)
        for digit, shift in column
    }


def _weights(run: Run, ids: np.ndarray, unit: np.ndarray) -> np.ndarray | None:
    """Each answer's weight: 1 where the database said so, the others read by id (None when
    one has gone)."""
    weights = np.ones(len(ids))
    if unit.all():
        return weights
    others = np.array(
        Answer.objects.filter(run=run).exclude(weight=1.0).values_list("id", "weight"),
        dtype=[("id", np.int64), ("weight", np.float64)],
    )
    others.sort(order="id")
    wanted = ids[~unit]
    at = np.searchsorted(others["id"], wanted).clip(max=max(len(others) - 1, 0))
    if len(others) == 0 or (others["id"][at] != wanted).any():
        return None
    weights[~unit] = others["weight"][at]
    return weights


def answers_frame_read(run: Run, columns: dict[str, str]) -> pd.DataFrame | None:
    """The run's answers frame (`columns`: ORM path -> frame column, as
    `questionnaire.FRAME_COLUMNS`) read as packed integers, or None when a value is outside the
    known lists or ranges (the caller reads it through the ORM then)."""
    # The study's items in the ORM's order of an answer's item (`Item.Meta.ordering`).
    items = list(Item.objects.filter(study_id=run.study_id).values_list("id", "type"))
    if not items or any(kind not in CODED_TYPES for _, kind in items):
        return None
    item_ids = [item_id for item_id, _ in items]
    option_ids = list(
        ItemOption.objects.filter(item__study_id=run.study_id)
        .order_by("id")
        .values_list("id", flat=True)
    )
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
    # An answer to an item of another study is ordered by that study first: the ORM reads it.
    listed: dict[str, list] = {"item_id": item_ids, "option_id": [None, *option_ids]}
    rows = _fetch(run, _digits(run, known | listed))
    if rows is None:
        return None
    weights = _weights(run, rows["id"], rows["unit_weight"] == 1)
    if weights is None:
        return None
    # Put the rows in the ORM's order (`Answer.Meta.ordering`: within one run and its
    # population, by the persona's index, then the item's), which spares the database a sort of
    # every joined row; they mostly come in it already.
    order_key = rows["persona__index"] * len(item_ids) + rows["item_id"]
    if not (np.diff(order_key) > 0).all():
        order = np.argsort(order_key, kind="stable")
        rows = {name: values[order] for name, values in rows.items()}
        weights = weights[order]
    n = len(weights)
    data: dict[str, pd.Series | np.ndarray] = {
        "id": rows["id"],
        "persona_id": rows["persona_id"],
        "item_id": np.array(item_ids, dtype=np.int64)[rows["item_id"]],
        "weight": weights,
        "persona__age": rows["persona__age"],
        "choices": pd.Series([None] * n, dtype=object),
        "number": pd.Series([None] * n, dtype=object),
        "text": _column([""], np.zeros(n, dtype=np.intp)),
    }
    option = rows["option_id"]  # 0 for none, else 1 + the option's position
    if not option.any():
        data["option_id"] = pd.Series([None] * n, dtype=object)
    elif option.all():
        data["option_id"] = np.array(option_ids, dtype=np.int64)[option - 1]
    else:
        data["option_id"] = np.array([np.nan, *option_ids], dtype=np.float64)[option]
    for path, values in known.items():
        data[path] = _column(values, rows[path])
    states = dict(Area.objects.filter(id__in=areas).values_list("id", "state"))
    data["persona__area__state"] = _column([states[a] for a in areas], rows["persona__area_id"])
    return pd.DataFrame({frame_column: data[path] for path, frame_column in columns.items()})
