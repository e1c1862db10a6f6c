"""Turning fitted joint tables into personas: drawing, the validation report, and bulk insertion."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _encode_string

import numpy as np
import pandas as pd
from django.db import connection

from personas.joint import CODES, DIMS, Constraints
from personas.models import Persona

METHOD = (
    "joint IPF: misterP ACS 2014-18 PUMS seed x ACS 2018 B19001 income by race "
    "(Ipsos 2020 education tilt), raked to area marginals and integerised (humanleague)"
)
GOAL_POINTS = 1.0
INSERT_BATCH = 50_000


@dataclass(frozen=True)
class AreaDraw:
    area_id: str
    counts: np.ndarray  # integer personas per joint cell
    targets: dict[str, np.ndarray]  # target shares per dimension, conditional on the constraints
    details: dict  # seed source and fit statistics for the report


@dataclass(frozen=True)
class Drawn:
    """A population as parallel arrays, one entry per persona in index order."""

    area: np.ndarray  # index into the list of area ids
    cells: dict[str, np.ndarray]  # per dimension, index into CODES[dimension]
    age: np.ndarray

    def __len__(self) -> int:
        return len(self.age)


def draw(*, areas: list[AreaDraw], constraints: Constraints, rng: np.random.Generator) -> Drawn:
    """Expand every area's integer table into personas and shuffle them with the population seed."""
    cell_ids = [np.repeat(np.arange(a.counts.size), a.counts.ravel()) for a in areas]
    area = np.repeat(np.arange(len(areas)), [len(c) for c in cell_ids])
    order = rng.permutation(len(area))
    area = area[order]
    flat = np.concatenate(cell_ids)[order]
    cells = dict(zip(DIMS, np.unravel_index(flat, areas[0].counts.shape), strict=True))
    # Exact age uniform over the bracket's years that the constraints allow.
    years = constraints.bracket_years()
    bracket = cells["age_bracket"]
    age = rng.integers(years[bracket, 0], years[bracket, 1] + 1)
    return Drawn(area=area, cells={d: c.astype(np.int64) for d, c in cells.items()}, age=age)


def _dimension_report(target: np.ndarray, achieved: np.ndarray, dimension: str) -> dict:
    rows = [
        {
            "category": code,
            "target": round(float(t), 6),
            "achieved": round(float(a), 6),
            "deviation_points": round(float(a - t) * 100, 4),
        }
        for code, t, a in zip(CODES[dimension], target, achieved, strict=True)
    ]
    return {
        "categories": rows,
        "max_abs_deviation_points": round(float(np.abs(achieved - target).max()) * 100, 4),
        "total_variation_distance": round(float(np.abs(achieved - target).sum()) / 2, 6),
    }


def _comparison(targets: dict[str, np.ndarray], drawn: Drawn, mask: np.ndarray) -> dict:
    n = int(mask.sum())
    dimensions = {}
    for dimension in DIMS:
        counts = np.bincount(drawn.cells[dimension][mask], minlength=len(CODES[dimension]))
        achieved = counts / n if n else np.zeros(len(CODES[dimension]))
        dimensions[dimension] = _dimension_report(targets[dimension], achieved, dimension)
    worst = max(d["max_abs_deviation_points"] for d in dimensions.values())
    return {
        "personas": n,
        "max_abs_deviation_points": worst,
        "within_goal": worst <= GOAL_POINTS,
        "dimensions": dimensions,
    }


def validation_report(
    *, areas: list[AreaDraw], drawn: Drawn, constraints: Constraints, seed: int
) -> dict:
    """Target vs achieved shares per dimension, overall and per area, counted from the personas."""
    sizes = np.array([a.counts.sum() for a in areas], dtype=float)
    # The population's target is each area's (constrained) target weighted by its personas.
    overall_targets = {
        d: sum(s * a.targets[d] for s, a in zip(sizes, areas, strict=True)) / sizes.sum()
        for d in DIMS
    }
    everyone = np.ones(len(drawn), dtype=bool)
    return {
        "method": METHOD,
        "seed": seed,
        "goal_points": GOAL_POINTS,
        "constraints": constraints.as_spec(),
        "targets_note": (
            "Targets come from each area's census marginals (age and sex of adults, race of all "
            "residents, education of adults 25+, household income): the seed joint table is "
            "raked to the full marginals, the cells outside the constraints are removed and the "
            "rest renormalized, so each dimension's target is its share among the adults who "
            "meet the constraints (e.g. the education mix of the area's 18-29 year olds); an age "
            "bracket cut by age_min/age_max keeps the seed's share of its allowed years."
        ),
        "overall": _comparison(overall_targets, drawn, everyone),
        "areas": {
            a.area_id: {**_comparison(a.targets, drawn, drawn.area == i), **a.details}
            for i, a in enumerate(areas)
        },
    }


@dataclass(frozen=True)
class ProfileSource:
    """What drawing the personas' full profiles needs; profiles are drawn block by block at insert
    time (`ProfileStream`) so a million never sit in memory at once (the blocks consume one seeded
    stream, so the same population and seed give the same profiles)."""

    area_states: list[str]  # USPS code per area, in the order of Drawn.area's indices
    rng: np.random.Generator

    def draw(self, drawn: Drawn, start: int, stop: int) -> tuple[list[str], list[str]]:
        """Display names and each profile as a JSON document, for personas [start, stop)."""
        from personas.profile import profile_draw

        labels = {d: np.array(CODES[d], dtype=object) for d in DIMS}
        demographics = pd.DataFrame(
            {
                "age": drawn.age[start:stop],
                **{d: labels[d][drawn.cells[d][start:stop]] for d in DIMS},
                "state": np.array(self.area_states, dtype=object)[drawn.area[start:stop]],
            }
        )
        profile = profile_draw(demographics, rng=self.rng)
        return profile["name"].astype(str).tolist(), json_documents(profile)


def _fragments(key: str, column: pd.Series) -> np.ndarray:
    """`"key":value` for each row of a column, as JSON text: each distinct value is encoded
    once (profile columns take few distinct values: categories, one-decimal scores, names)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    prefix = json.dumps(key) + ":"
    encoded = [prefix + _json_value(v) for v in uniques.tolist()]
    encoded.append(prefix + "null")  # code -1: a missing value
    return np.array(encoded, dtype=object)[codes]


def _json_value(value) -> str:
    # What json.dumps(value, separators=(",", ":")) gives, without its per-call encoder set-up
    # (a million personas have over a million distinct values, mostly names and scores).
    if isinstance(value, np.generic):
        value = value.item()
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else "null"
    if kind is int:
        return int.__repr__(value)
    return json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":"))


def json_documents(frame: pd.DataFrame) -> list[str]:
    """Each row as a JSON object (columns in order), built column-wise: what `to_json(orient=
    "records", lines=True)` gives, value for value, in about a fifth of its time (ujson spent
    ~0.35 µs on every cell of a million personas' 24 columns)."""
    if frame.empty:
        return []
    columns = [_fragments(str(key), frame[key]) for key in frame.columns]
    return ["{" + ",".join(row) + "}" for row in zip(*columns, strict=True)]


class ProfileStream:
    """A population's profiles drawn block by block (INSERT_BATCH personas each, from the start)
    from the one seeded stream of `ProfileSource`, so writes of any size see the same profiles;
    `checkpoint` says how to take the stream up again after personas [0, position) are written."""

    def __init__(self, source: ProfileSource, drawn: Drawn, *, block_start: int = 0) -> None:
        self._source = source
        self._drawn = drawn
        self._next = block_start  # first persona of the next block to draw
        self._next_state = rng_state_dump(source.rng)  # the stream's state before that block
        self._block: tuple[int, int, list[str], list[str], dict] | None = None

    def take(self, start: int, stop: int) -> tuple[list[str], list[str]]:
        """Names and profile documents of personas [start, stop), which lie in one block."""
        while self._block is None or stop > self._block[1]:
            begin, end = self._next, min(self._next + INSERT_BATCH, len(self._drawn))
            state = self._next_state
            names, documents = self._source.draw(self._drawn, begin, end)
            self._block = (begin, end, names, documents, state)
            self._next, self._next_state = end, rng_state_dump(self._source.rng)
        begin, _, names, documents, _ = self._block
        if start < begin:
            raise ValueError(f"personas from {start} were drawn before this stream's block {begin}")
        return names[start - begin : stop - begin], documents[start - begin : stop - begin]

    def checkpoint(self, position: int) -> dict:
        """Where to resume once personas [0, position) are written: a block's first persona and
        the stream's state before it."""
        if self._block is not None and self._block[0] <= position < self._block[1]:
            return {"block_start": self._block[0], "rng": self._block[4]}
        return {"block_start": self._next, "rng": self._next_state}


def rng_state_dump(rng: np.random.Generator) -> dict:
    """A generator's state as JSON-safe values (its 128-bit integers as text)."""
    return _ints_as_text(rng.bit_generator.state)


def rng_state_load(state: dict) -> np.random.Generator:
    """The generator `rng_state_dump` describes, continuing exactly where it stood."""
    rng = np.random.default_rng()
    rng.bit_generator.state = _text_as_ints(state)
    return rng


def _ints_as_text(value):
    if isinstance(value, dict):
        return {k: _ints_as_text(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"int": str(value)}
    return value


def _text_as_ints(value):
    if isinstance(value, dict):
        if set(value) == {"int"}:
            return int(value["int"])
        return {k: _text_as_ints(v) for k, v in value.items()}
    return value


def _rows(
    *,
    population_id: int,
    area_ids: list[str],
    drawn: Drawn,
    profiles: ProfileStream | None,
    start: int,
    stop: int,
) -> Iterator[list[tuple]]:
    """Insert rows of personas [start, stop) in batches that never cross a profile block, built
    column-wise from the arrays (no per-persona model objects)."""
    area_codes = np.array(area_ids, dtype=object)
    labels = {d: np.array(CODES[d], dtype=object) for d in DIMS}
    while start < stop:
        end = min((start // INSERT_BATCH + 1) * INSERT_BATCH, stop)
        size = end - start
        names, documents = profiles.take(start, end) if profiles else ([""] * size, [None] * size)
        columns = [
            [population_id] * size,
            list(range(start, end)),
            area_codes[drawn.area[start:end]].tolist(),
            drawn.age[start:end].tolist(),
            *(labels[d][drawn.cells[d][start:end]].tolist() for d in DIMS),
            names,
            documents,
        ]
        yield list(zip(*columns, strict=True))
        start = end


def personas_insert(
    *,
    population_id: int,
    area_ids: list[str],
    drawn: Drawn,
    profiles: ProfileStream | None = None,
    start: int = 0,
    stop: int | None = None,
) -> None:
    """Write personas [start, stop) (all by default): COPY on PostgreSQL, executemany elsewhere."""
    # Raw inserts rather than bulk_create: a million Persona instances cost more time and
    # memory than the insert itself, and every column here is already validated by the fit.
    meta = Persona._meta
    names = ["population", "index", "area", "age", *DIMS, "name", "profile"]
    columns = [meta.get_field(n).column for n in names]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    column_sql = ", ".join(quote(c) for c in columns)
    batches = _rows(
        population_id=population_id,
        area_ids=area_ids,
        drawn=drawn,
        profiles=profiles,
        start=start,
        stop=len(drawn) if stop is None else stop,
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg.copy import QueuedLibpqWriter

            raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
            # The queued writer sends on a thread of its own, so the server ingests one batch
            # while this thread draws the next (profiles, JSON); its queue is bounded (~1024
            # buffers of 32-128 kB), so memory stays flat.
            copy_sql = f"COPY {table} ({column_sql}) FROM STDIN"
            with raw.copy(copy_sql, writer=QueuedLibpqWriter(raw)) as copy:
                for batch in batches:
                    for row in batch:
                        copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({column_sql}) VALUES ({placeholders})"
        for batch in batches:
            cursor.executemany(sql, batch)
