"""A demographic cell in a poll: the one rule the offline backend, the relevance ranking and the
validation share, so what validation measures is what the backend runs.

A cell is drawn for a profile (`CellProfile`: a persona, or a held-out respondent treated as one).
It holds the respondents who match the profile on every dimension of MATCH_ORDER that the poll
measured (a value for at least one of the question's respondents) and the profile has a value on:

- sex, race/ethnicity, education, income, state: a stored value may be several categories joined
  by "|" (a source category that spans several platform ones); it matches when the profile's
  category is among them. A persona has exactly one; a respondent treated as a profile may have
  several, and then a respondent matches when all of them are among its own (it is in the cell
  whichever category the profile really is). A blank or missing value never matches.
- age: the respondent's age range overlaps the profile's (a persona's is its exact age), or the
  respondent's exact age lies in the profile's census bracket. A respondent without an age never
  matches.

While the cell holds fewer than `min_cell` respondents it is widened by dropping dimensions in
DROP_ORDER. Income and age go first: they are the finest-grained and the least often measured the
same way across polls.

`RespondentCells` holds one question's respondents in memory (from any table with the columns of
COLUMNS, e.g. a training split); `QuestionCells` loads them from the database for one question,
`cells_by_question` for many in one query, and `cell_summaries` gives many questions' shares.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from django.conf import settings

from environment.categories import AGE_BRACKETS, label

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from personas.models import Persona

MATCH_ORDER: Final = ("sex", "race_ethnicity", "education", "state", "age", "income")
DROP_ORDER: Final = ("income", "age", "state", "education", "race_ethnicity", "sex")
DIMENSION_NAMES: Final = {
    "sex": "sex",
    "race_ethnicity": "race/ethnicity",
    "education": "education",
    "state": "state",
    "age": "age",
    "income": "household income",
}
CATEGORICAL: Final = ("sex", "race_ethnicity", "education", "income", "state")
# The columns a table of respondents' answers needs (respondent_id is optional).
COLUMNS: Final = ("respondent_id", "option_id", "weight", *CATEGORICAL, "age_min", "age_max")


def _age_bracket(age: int) -> str:
    """The census bracket holding an exact age ("" above the last bracket's end)."""
    return next((b for b, (lo, hi) in AGE_BRACKETS.items() if lo <= age <= hi), "")


@dataclass(frozen=True)
class CellProfile:
    """Whom a cell is drawn for: a persona's demographics, or a respondent's treated as a persona's.

    A blank category or a missing age leaves that dimension out of the cell; a category may be
    several joined by "|", as respondents' are.
    """

    sex: str = ""
    race_ethnicity: str = ""
    education: str = ""
    income: str = ""
    state: str = ""
    age_min: int | None = None
    age_max: int | None = None
    age_bracket: str = ""  # a respondent's exact age in this census bracket matches

    @classmethod
    def of_persona(cls, persona: Persona) -> CellProfile:
        return cls(
            sex=persona.sex,
            race_ethnicity=persona.race_ethnicity,
            education=persona.education,
            income=persona.income,
            state=persona.area.state,
            age_min=persona.age,
            age_max=persona.age,
            age_bracket=persona.age_bracket,
        )

    @classmethod
    def of_respondent(cls, row: Mapping[Hashable, Any]) -> CellProfile:
        """A respondent's profile from its stored values (a `values()` dict or a table row)."""
        low, high = _age(row.get("age_min")), _age(row.get("age_max"))
        if low is None or high is None:
            low = high = None
        exact = low is not None and low == high
        return cls(
            **{d: _category(row.get(d)) for d in CATEGORICAL},
            age_min=low,
            age_max=high,
            age_bracket=_age_bracket(low) if exact else "",
        )

    def has(self, dimension: str) -> bool:
        if dimension == "age":
            return self.age_min is not None
        return bool(getattr(self, dimension))


def _category(value) -> str:
    return value if isinstance(value, str) else ""  # None, or NaN from pandas


def _age(value) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def persona_describe(persona: Persona, dimension: str) -> str:
    """The persona's value on a dimension, worded for a reasoning or grounding text."""
    if dimension == "state":
        return persona.area.state
    if dimension == "age":
        return f"{persona.age} ({label('age_bracket', persona.age_bracket)})"
    return label(dimension, getattr(persona, dimension)).lower()


class RespondentCells:
    """One question's respondents in memory, and any profile's cell among them.

    `table` is anything indexed by the names of COLUMNS (a DataFrame, a dict of arrays), one row
    per answer. Each cell is a handful of numpy masks, cached per dimension value, so thousands of
    profiles are matched without a query each. `dimensions` limits the cell to some of MATCH_ORDER.
    """

    def __init__(
        self,
        table: Mapping[str, Any] | pd.DataFrame,
        *,
        dimensions: Iterable[str] = MATCH_ORDER,
        min_cell: int | None = None,
    ) -> None:
        self.min_cell = settings.POLL_CELL_MIN_RESPONDENTS if min_cell is None else min_cell
        self.option_ids = np.asarray(table["option_id"]).astype(np.int64)
        self.size = len(self.option_ids)
        self.weights = np.asarray(table["weight"]).astype(float)
        self.respondent_ids = (
            np.asarray(table["respondent_id"]).astype(np.int64)
            if "respondent_id" in table
            else np.arange(self.size)
        )
        allowed = set(dimensions)
        # Each category column as codes into its distinct values (a few dozen among thousands of
        # rows), so a mask tests each distinct value once instead of every row.
        self._codes: dict[str, tuple[np.ndarray, list]] = {}
        for dimension in CATEGORICAL:
            if dimension in allowed:
                codes, uniques = pd.factorize(np.asarray(table[dimension], dtype=object))
                self._codes[dimension] = (codes, list(uniques))
        self.age_min, self.age_max = _ages(table["age_min"]), _ages(table["age_max"])
        measured = {d for d, (_, uniques) in self._codes.items() if any(uniques)}
        if "age" in allowed and (self.age_min >= 0).any():
            measured.add("age")
        self.dimensions = tuple(d for d in MATCH_ORDER if d in measured)
        # Answers as positions in `answer_options`, so a cell's weighted shares are one bincount.
        self.answer_options, self.answer_index = np.unique(self.option_ids, return_inverse=True)
        self._masks: dict[tuple, np.ndarray] = {}

    def key(self, who: CellProfile) -> tuple:
        """What of the profile its cell depends on here: profiles with equal keys share a cell."""
        return tuple(_key(who, d) for d in self.dimensions if who.has(d))

    def _mask(self, who: CellProfile, dimension: str) -> np.ndarray:
        key = _key(who, dimension)
        cached = self._masks.get(key)
        if cached is not None:
            return cached
        if dimension == "age":
            overlaps = (self.age_min <= who.age_max) & (who.age_min <= self.age_max)
            mask = (self.age_min >= 0) & overlaps
            if who.age_bracket in AGE_BRACKETS:
                lo, hi = AGE_BRACKETS[who.age_bracket]
                exact = (self.age_min == self.age_max) & (self.age_min >= lo) & (self.age_min <= hi)
                mask |= exact
        else:
            wanted = set(getattr(who, dimension).split("|"))
            codes, uniques = self._codes[dimension]
            hit = [bool(v) and wanted <= set(str(v).split("|")) for v in uniques]
            # A missing value has code -1, which lands on the False appended last.
            mask = np.array([*hit, False], dtype=bool)[codes]
        self._masks[key] = mask
        return mask

    def cell(self, who: CellProfile | Persona) -> Cell:
        """The profile's (or persona's) cell, widened in DROP_ORDER until it holds `min_cell`.

        Each widening drops the next dimension of DROP_ORDER among those used, so every cell
        tried is the dimensions kept so far: the masks are combined once, in the reverse of the
        order they are dropped, and the cell is the longest combination that holds `min_cell`
        (counted with `count_nonzero`), instead of combining them again after every drop."""
        profile = who if isinstance(who, CellProfile) else CellProfile.of_persona(who)
        used = [d for d in self.dimensions if profile.has(d)]
        drops = [d for d in DROP_ORDER if d in used]
        kept_longest = drops[::-1]  # kept_longest[:k] is what is left after the last n - k drops
        masks = [np.ones(self.size, dtype=bool)]
        counts = [self.size]
        for dimension in kept_longest:
            masks.append(masks[-1] & self._mask(profile, dimension))
            counts.append(int(np.count_nonzero(masks[-1])))
        k = len(kept_longest)
        while k and counts[k] < self.min_cell:
            k -= 1
        kept = set(kept_longest[:k])
        mask = masks[k]
        rows = np.flatnonzero(mask)
        return Cell(
            mask=mask,
            count=counts[k],
            exact_count=counts[-1],
            dimensions=tuple(d for d in used if d in kept),
            widened_by=tuple(drops[: len(drops) - k]),
            weights=self.weights[rows],
            option_ids=self.option_ids[rows],
            answer_options=self.answer_options,
            answer_index=self.answer_index[rows],
        )


def _key(who: CellProfile, dimension: str) -> tuple:
    if dimension == "age":
        return ("age", who.age_min, who.age_max, who.age_bracket)
    return (dimension, getattr(who, dimension))


def _ages(values) -> np.ndarray:
    """Ages as integers, -1 where missing (None from the database, NaN from pandas)."""
    ages = np.asarray(values, dtype=float)
    return np.where(np.isnan(ages), -1, ages).astype(np.int64)


def _read(rows: QuerySet, *first: str) -> np.ndarray:
    """The answers with their respondents' demographics, columns `first` then COLUMNS, as one
    object array: slicing it by column costs less than transposing the rows with zip(*rows)."""
    related = {"weight", *CATEGORICAL, "age_min", "age_max"}
    fields = (*first, *(f"respondent__{c}" if c in related else c for c in COLUMNS))
    return np.array(list(rows.values_list(*fields)), dtype=object).reshape(-1, len(fields))


class QuestionCells(RespondentCells):
    """A poll question's respondents, read from the database in one query.

    `options` limits the answers kept to those poll options (the others are dropped).
    """

    def __init__(self, question, *, options=None, min_cell: int | None = None) -> None:
        from polls.models import Response

        # In respondent order, so a seeded draw picks the same respondent on every database.
        rows = Response.objects.filter(question=question).order_by("respondent_id")
        if options is not None:
            rows = rows.filter(option_id__in=list(options))
        table = _read(rows)
        super().__init__({c: table[:, i] for i, c in enumerate(COLUMNS)}, min_cell=min_cell)
        self.question = question


def cells_by_question(
    question_ids: Iterable[int], *, min_cell: int | None = None
) -> dict[int, RespondentCells]:
    """Each question's respondents, all read in one query (none for a question without)."""
    from polls.models import Response

    ids = list(question_ids)
    table = _read(
        Response.objects.filter(question_id__in=ids).order_by("respondent_id"), "question_id"
    )
    # Each question's rows, in the order they were read.
    question_of = table[:, 0].astype(np.int64)
    order = np.argsort(question_of, kind="stable")
    found, starts = np.unique(question_of[order], return_index=True)
    ends = [*starts[1:], len(order)]
    rows_of = {int(q): order[s:e] for q, s, e in zip(found, starts, ends, strict=True)}
    empty = np.zeros(0, dtype=np.int64)
    return {
        q: RespondentCells(
            {c: table[rows_of.get(q, empty), 1 + i] for i, c in enumerate(COLUMNS)},
            min_cell=min_cell,
        )
        for q in ids
    }


@dataclass(frozen=True)
class CellSummary:
    """A cell's size and weighted answer shares, without its respondents."""

    count: int  # respondents behind the shares
    exact_count: int  # respondents matching on every dimension, before widening
    dimensions: tuple[str, ...]
    widened_by: tuple[str, ...]
    shares: dict[int, float]  # poll option id -> weighted share


def cell_summaries(
    question_ids: Iterable[int], profile: CellProfile | None, *, min_cell: int | None = None
) -> dict[int, CellSummary]:
    """Each question's cell for the profile, or its whole sample without one, in one query.

    The whole sample needs no matching, so it is one grouped count rather than every answer read.
    """
    from django.db.models import Count, Sum

    from polls.models import Response

    ids = list(question_ids)
    if profile is not None:
        cells = cells_by_question(ids, min_cell=min_cell)
        return {q: among.cell(profile).summary() for q, among in cells.items()}
    weights: dict[int, dict[int, float]] = {q: {} for q in ids}
    counts = dict.fromkeys(ids, 0)
    rows = (
        Response.objects.filter(question_id__in=ids)
        .order_by()
        .values("question_id", "option_id")
        .annotate(n=Count("id"), w=Sum("respondent__weight"))
    )
    for row in rows:
        counts[row["question_id"]] += row["n"]
        weights[row["question_id"]][row["option_id"]] = float(row["w"] or 0.0)
    summaries = {}
    for q in ids:
        total = sum(weights[q].values())
        shares = {o: w / total for o, w in weights[q].items()} if total > 0 else {}
        summaries[q] = CellSummary(counts[q], counts[q], (), (), shares)
    return summaries


class Cell:
    """The respondents of one profile's cell: their answers (poll option ids) and survey weights.

    `count` respondents are behind the answers; `exact_count` matched on every dimension, before
    the cell was widened by dropping `widened_by`.
    """

    def __init__(
        self,
        *,
        mask,
        count,
        dimensions,
        widened_by,
        weights,
        option_ids,
        exact_count=None,
        answer_options=None,
        answer_index=None,
    ) -> None:
        self.mask = mask
        self.count = count
        self.exact_count = count if exact_count is None else exact_count
        self.dimensions = dimensions
        self.widened_by = widened_by
        self.weights = weights
        self.option_ids = option_ids
        if answer_options is None:
            answer_options, answer_index = np.unique(option_ids, return_inverse=True)
        self._answer_options = answer_options
        self._answer_index = answer_index

    def shares(self) -> dict[int, float]:
        """Weighted share of each poll option answered in the cell."""
        total = float(self.weights.sum())
        if total <= 0:
            return {}
        sums = np.bincount(
            self._answer_index, weights=self.weights, minlength=len(self._answer_options)
        )
        return {
            int(o): float(w / total)
            for o, w, n in zip(
                self._answer_options,
                sums,
                np.bincount(self._answer_index, minlength=len(self._answer_options)),
                strict=True,
            )
            if n  # an option answered in the cell (with weight zero it still counts, at 0 %)
        }

    def summary(self) -> CellSummary:
        return CellSummary(
            self.count, self.exact_count, self.dimensions, self.widened_by, self.shares()
        )

    def describe(self, persona: Persona) -> str:
        return (
            ", ".join(
                f"{DIMENSION_NAMES[d]} {persona_describe(persona, d)}" for d in self.dimensions
            )
            or "no demographic filter"
        )
