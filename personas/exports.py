"""A population's data out: one row per persona (position, area, demographics and every profile
field) as a `config.tabular.Table`, written as CSV or Parquet a batch at a time; anonymized the
way `personas.profile.export.anonymize` does it for personas.json."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from config.tabular import ColumnType, Table
from environment.categories import DIMENSIONS
from personas.models import Persona, Population
from personas.profile.export import IDENTIFYING_FIELDS, age_bucket, pseudonym
from personas.profile.fields import PROFILE_FIELDS


def _profile_type(kind: str) -> ColumnType:
    return "int" if kind == "int" else "float" if kind == "float" else "str"


PROFILE_TABLE_COLUMNS: list[tuple[str, ColumnType]] = [
    (f.name, _profile_type(f.type)) for f in PROFILE_FIELDS
]
POPULATION_COLUMNS: list[tuple[str, ColumnType]] = [
    ("id", "int"), ("index", "int"), ("area", "str"), ("state", "str"), ("age", "int"),
    *((d, "str") for d in DIMENSIONS), *PROFILE_TABLE_COLUMNS,
]  # fmt: skip
_FIELDS = ("id", "index", "area_id", "area__state", "age", *DIMENSIONS, "profile")
# Left out of an anonymized table: the record links and the exact identifiers.
DROPPED_WHEN_ANONYMIZED = frozenset(
    {"id", "index", "persona_id", "persona_index", "age", "name", "population", *IDENTIFYING_FIELDS}
)


def profile_values(profile: dict | None) -> list:
    """The profile's fields in `PROFILE_FIELDS` order (None where missing; lists as 'a;b')."""
    profile = profile or {}
    values = []
    for field in PROFILE_FIELDS:
        value = profile.get(field.name)
        values.append(";".join(value) if isinstance(value, list) else value)
    return values


def persona_keys(personas: QuerySet[Persona]) -> dict[int, str]:
    """What a persona's pseudonym is computed from, by persona id: its id and name (its index
    when it has no name), as `anonymize` keys the rows of personas.json."""
    rows = personas.values_list("id", "index", "profile__name").order_by()
    return {pk: f"{pk}|{name if name else index}" for pk, index, name in rows.iterator()}


def anonymized_columns(
    columns: list[tuple[str, ColumnType]], *, id_column: str
) -> list[tuple[str, ColumnType]]:
    """An anonymized table's header: the pseudonym (as `id_column`), the age bucket, and the
    columns that identify no one."""
    kept = [c for c in columns if c[0] not in DROPPED_WHEN_ANONYMIZED]
    return [(id_column, "str"), ("age_bucket", "str"), *kept]


def anonymized_values(
    columns: list[tuple[str, ColumnType]], values: list, *, pseudonym_: str
) -> list:
    named = dict(zip((n for n, _ in columns), values, strict=True))
    kept = [
        v for (n, _), v in zip(columns, values, strict=True) if n not in DROPPED_WHEN_ANONYMIZED
    ]
    return [pseudonym_, age_bucket(int(named["age"])), *kept]


def pseudonym_order(personas: QuerySet[Persona], *, salt: str) -> tuple[list[int], dict[int, str]]:
    """Persona ids in pseudonym order, and each one's pseudonym: an anonymized table lists
    personas in that order rather than the population's, so nothing leads back to a record."""
    names = {pk: pseudonym(key, salt=salt) for pk, key in persona_keys(personas).items()}
    return sorted(names, key=names.__getitem__), names


def _row(row: tuple) -> list:
    *head, profile = row
    return [*head, *profile_values(profile)]


def population_table(population: Population, *, anonymized: bool = False, salt: str = "") -> Table:
    """One row per persona: id, index, area, state, age, the demographic categories and every
    profile field. Anonymized: a pseudonym (`name`) instead of id, index and names, a five-year
    age bucket instead of the age, rows in pseudonym order."""
    personas = Persona.objects.filter(population=population)
    if not anonymized:
        rows = (
            _row(row)
            for row in personas.order_by("index").values_list(*_FIELDS).iterator(chunk_size=2000)
        )
        return Table(POPULATION_COLUMNS, rows)
    return Table(
        anonymized_columns(POPULATION_COLUMNS, id_column="name"),
        _anonymized_rows(personas, salt=salt),
    )


def _anonymized_rows(
    personas: QuerySet[Persona], *, salt: str, batch: int = 2000
) -> Iterator[list]:
    order, names = pseudonym_order(personas, salt=salt)
    for start in range(0, len(order), batch):
        ids = order[start : start + batch]
        rows = {row[0]: _row(row) for row in personas.filter(id__in=ids).values_list(*_FIELDS)}
        for pk in ids:
            yield anonymized_values(POPULATION_COLUMNS, rows[pk], pseudonym_=names[pk])
