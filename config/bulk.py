"""Bulk inserts of model instances: COPY on PostgreSQL, one `executemany` on SQLite, `bulk_create`
elsewhere.

A run writes thousands of rows with large text and JSON columns (call-log prompts, persona
artefacts). Django's `bulk_create` on PostgreSQL sends them as arrays through `UNNEST`, and
psycopg quotes those arrays in Python: 0.7 ms of CPU a row of 8 kB, against 0.08 ms through COPY,
whose rows psycopg formats in C (measured on this machine, one thread). The values are still
prepared by each field (`pre_save`, `get_db_prep_save`), so defaults, `auto_now_add` and JSON
encoding behave as with `bulk_create`.

- Without `ignore_conflicts` the primary keys are drawn from the table's sequence first and set on
  the objects, as `bulk_create` does.
- With `ignore_conflicts` the rows go through a temporary table and `INSERT … ON CONFLICT DO
  NOTHING`: a row that clashes with a stored one on any unique constraint is skipped, and, as with
  `bulk_create(ignore_conflicts=True)`, the objects get no primary key. The temporary table
  lives as long as the database connection (a request's or a task's) and holds the columns the
  model had when it was made.

On SQLite, `bulk_create` builds one multi-row `INSERT` per batch through the SQL compiler, which
cost about as much CPU as the database's own work for a run's call-log rows (a profile of the
LLM engine bench: 11 % of the process in `bulk_create`, under half of it in SQLite). The same
prepared values go through one `executemany` of a single-row statement instead (`INSERT OR
IGNORE` with `ignore_conflicts`). Django makes SQLite's integer primary keys `AUTOINCREMENT`, and
a transaction holds the database's write lock from its first insert, so the rows of one
statement get the consecutive ids ending at the table's `sqlite_sequence` entry; they are set on
the objects, as `bulk_create` does.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models.fields import AutoFieldMixin


def bulk_insert(
    model: type[models.Model], objs: Sequence[models.Model], *, ignore_conflicts: bool = False
) -> None:
    if not objs:
        return
    if connection.vendor == "sqlite" and _sqlite_insertable(model, objs):
        _sqlite_insert(model, objs, ignore_conflicts=ignore_conflicts)
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, ignore_conflicts=ignore_conflicts)
        return
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if f is not pk]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        if not ignore_conflicts:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk.column, len(objs)],
            )
            for obj, (new_id,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = new_id
            fields = [pk, *fields]
        rows = _prepared_rows(fields, objs)
        columns = ", ".join(quote(f.column) for f in fields)
        target = table
        if ignore_conflicts:
            target = quote(f"bulk_{meta.db_table}")
            # Only the inserted columns, no constraints; emptied at commit and after each use.
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DELETE ROWS AS "
                f"SELECT {columns} FROM {table} WITH NO DATA"
            )
        with cursor.cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if ignore_conflicts:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target} "
                "ON CONFLICT DO NOTHING"
            )
            cursor.execute(f"DELETE FROM {target}")
    _mark_saved(objs)


# Fields whose preparation leaves a value of the listed type as it is (`pre_save` reads the
# attribute; `get_db_prep_save` converts to that type, then the backends adapt integers, strings
# and booleans as themselves), so such a value is taken straight from the object. Exact classes
# only: a subclass may prepare values its own way.
_AS_IS: dict[type, type] = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.BooleanField: bool,
    models.FloatField: float,
    models.AutoField: int,
    models.BigAutoField: int,
    models.SmallAutoField: int,
}


def _as_is(field) -> type | None:
    """The type of value `field` stores as it is, if any (a foreign key: its target's)."""
    if type(field) is models.ForeignKey:
        return _AS_IS.get(type(field.target_field))
    return _AS_IS.get(type(field))


def _prepared_rows(fields: list, objs: Sequence[models.Model]) -> list[list]:
    """Each object's column values as its fields prepare them for the database. The fields are
    handed the connection itself: `django.db.connection` is a proxy that looks the connection up
    (an asgiref thread-local) on every attribute read, and the integer and date fields read
    `connection.ops` once per value, a tenth of a run's write CPU. A plain value of a plain field
    (`_AS_IS`), or a None, is taken as it is: preparing each of a call-log row's 23 values cost a
    few percent of an LLM run's CPU."""
    db = connections[DEFAULT_DB_ALIAS]
    plan = [(f, f.attname, _as_is(f)) for f in fields]
    rows = []
    for obj in objs:
        values = obj.__dict__
        row = []
        for field, attname, plain in plan:
            value = values.get(attname, field)  # the field itself: not set, let it decide
            if plain is not None and (value is None or type(value) is plain):
                row.append(value)
            else:
                row.append(field.get_db_prep_save(field.pre_save(obj, add=True), db))
        rows.append(row)
    return rows


def _mark_saved(objs: Sequence[models.Model]) -> None:
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def _sqlite_insertable(model: type[models.Model], objs: Sequence[models.Model]) -> bool:
    """New rows of a model with an auto-incremented key (else `bulk_create` decides)."""
    pk = model._meta.pk
    return isinstance(pk, AutoFieldMixin) and all(obj.pk is None for obj in objs)


def _sqlite_insert(
    model: type[models.Model], objs: Sequence[models.Model], *, ignore_conflicts: bool
) -> None:
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join("%s" for _ in fields)
    verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
    rows = _prepared_rows(fields, objs)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(f"{verb} INTO {table} ({columns}) VALUES ({marks})", rows)
        if not ignore_conflicts:
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [meta.db_table])
            last = cursor.fetchone()[0]
            for new_id, obj in enumerate(objs, start=last - len(objs) + 1):
                obj.pk = new_id
    _mark_saved(objs)
