"""A persona's demographic cell in a poll: the one definition the backend, the selector and the
validation share, so they cannot drift apart.

A cell matches respondents on every dimension the poll measured (MATCH_ORDER); while it holds too few
respondents it is widened by dropping dimensions in DROP_ORDER. Income and age go first: they are the
finest-grained and the least often measured the same way across polls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
from django.conf import settings

from environment.categories import AGE_BRACKETS, label

if TYPE_CHECKING:
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


def persona_value(persona: Persona, dimension: str) -> str:
    """The persona's category on a matching dimension (its area's state for "state")."""
    if dimension == "state":
        return persona.area.state
    return getattr(persona, dimension)


def persona_describe(persona: Persona, dimension: str) -> str:
    """The persona's value on a dimension, worded for a reasoning or grounding text."""
    if dimension == "state":
        return persona.area.state
    if dimension == "age":
        return f"{persona.age} ({label('age_bracket', persona.age_bracket)})"
    return label(dimension, getattr(persona, dimension)).lower()


class QuestionCells:
    """One poll question's respondents in memory, and any persona's cell among them.

    Loaded once (one query), then each persona's cell is a handful of numpy masks, cached per
    dimension value, so a run asks the same question of thousands of personas without a query each.
    `options` limits the answers kept to those poll options (the others are dropped).
    """

    def __init__(self, question, *, options=None, min_cell: int | None = None) -> None:
        from polls.models import Response

        self.question = question
        self.min_cell = settings.POLL_CELL_MIN_RESPONDENTS if min_cell is None else min_cell
        rows = Response.objects.filter(question=question)
        if options is not None:
            rows = rows.filter(option_id__in=list(options))
        rows = list(
            rows.values_list(
                "option_id",
                "respondent__weight",
                "respondent__sex",
                "respondent__race_ethnicity",
                "respondent__education",
                "respondent__income",
                "respondent__state",
                "respondent__age_min",
                "respondent__age_max",
            )
        )
        self.size = len(rows)
        # One object array, sliced by column: transposing with zip(*rows) cost more than the query.
        table = np.array(rows, dtype=object).reshape(self.size, 9)
        self.option_ids = table[:, 0].astype(np.int64)
        self.weights = table[:, 1].astype(float)
        self.columns = {
            name: table[:, i]
            for i, name in enumerate(
                ("sex", "race_ethnicity", "education", "income", "state"), start=2
            )
        }
        ages = np.where(table[:, 7:9] == None, -1, table[:, 7:9])  # noqa: E711 (elementwise)
        self.age_min = ages[:, 0].astype(np.int64)
        self.age_max = ages[:, 1].astype(np.int64)
        measured = [d for d, col in self.columns.items() if (col != "").any()]
        if (self.age_min >= 0).any():
            measured.append("age")
        self.dimensions = tuple(d for d in MATCH_ORDER if d in measured)
        # Answers as positions in `answer_options`, so a cell's weighted shares are one bincount.
        self.answer_options, self.answer_index = np.unique(self.option_ids, return_inverse=True)
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._masks: dict[tuple, object] = {}

    def _factorized(self, dimension: str) -> tuple[np.ndarray, np.ndarray]:
        """The column as codes into its distinct stored values (a few dozen among thousands of
        rows), so a mask tests each distinct value once instead of every row."""
        found = self._codes.get(dimension)
        if found is None:
            codes, uniques = pd.factorize(self.columns[dimension])
            found = self._codes[dimension] = (codes, np.asarray(uniques, dtype=object))
        return found

    def _mask(self, dimension: str, persona: Persona):
        if dimension == "age":
            key = ("age", persona.age, persona.age_bracket)
        else:
            key = (dimension, persona_value(persona, dimension))
        cached = self._masks.get(key)
        if cached is not None:
            return cached
        if dimension == "age":
            lo, hi = AGE_BRACKETS[persona.age_bracket]
            in_range = (self.age_min <= persona.age) & (persona.age <= self.age_max)
            # A respondent with an exact age matches anywhere in the persona's census bracket.
            exact = (self.age_min == self.age_max) & (self.age_min >= lo) & (self.age_min <= hi)
            mask = (self.age_min >= 0) & (in_range | exact)
        else:
            value = key[1]
            codes, uniques = self._factorized(dimension)
            # A stored value may be several categories joined by "|": match the persona's among them.
            hit = np.fromiter(
                (value in v.split("|") if v else False for v in uniques),
                dtype=bool,
                count=len(uniques),
            )
            # A missing value has code -1, which lands on the False appended last.
            mask = np.append(hit, False)[codes]
        self._masks[key] = mask
        return mask

    def cell(self, persona: Persona) -> Cell:
        """The persona's cell, widened in DROP_ORDER until it holds `min_cell` respondents."""
        used = list(self.dimensions)
        dropped: list[str] = []
        while True:
            mask = np.ones(self.size, dtype=bool)
            for dimension in used:
                mask &= self._mask(dimension, persona)
            count = int(mask.sum())
            if count >= self.min_cell or not used:
                break
            drop = next(d for d in DROP_ORDER if d in used)
            used.remove(drop)
            dropped.append(drop)
        return Cell(
            mask=mask,
            count=count,
            dimensions=tuple(used),
            widened_by=tuple(dropped),
            weights=self.weights[mask],
            option_ids=self.option_ids[mask],
            answer_options=self.answer_options,
            answer_index=self.answer_index[mask],
        )


class Cell:
    """The respondents of one persona's cell: their answers (poll option ids) and survey weights."""

    def __init__(
        self,
        *,
        mask,
        count,
        dimensions,
        widened_by,
        weights,
        option_ids,
        answer_options=None,
        answer_index=None,
    ) -> None:
        self.mask = mask
        self.count = count
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

    def describe(self, persona: Persona) -> str:
        return (
            ", ".join(
                f"{DIMENSION_NAMES[d]} {persona_describe(persona, d)}" for d in self.dimensions
            )
            or "no demographic filter"
        )
