"""The contract of one item type's analysis: its summary of a set of answers (overall, per group,
per condition), the measures its conditions are compared on, and its test across groups.

Each type is a module of this package (`single_choice`, `likert`, ...) and an entry in
`studies.analyzers.questionnaire.ITEM_TYPES`; the questionnaire analyzer does the slicing by
group and condition, the comparisons and the corrections, and never asks which type it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from studies.models import Item, ItemOption


@dataclass(frozen=True)
class ShareMeasure:
    """A share of answers (each answer counts for it or not), compared between conditions as a
    difference of shares."""

    measure: str
    option: str | None
    chosen: Callable[[pd.DataFrame], np.ndarray]
    #: Whether the answers' weights count (Kish effective n), as in the type's own summary.
    weighted: bool = False


@dataclass(frozen=True)
class MeanMeasure:
    """A mean of one number per answer, compared between conditions as a difference of means."""

    measure: str
    option: str | None
    values: Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class DistributionMeasure:
    """The whole distribution over categories, compared between conditions by a test only."""

    measure: str
    counts: Callable[[pd.DataFrame], np.ndarray]


Measure = ShareMeasure | MeanMeasure | DistributionMeasure


class OptionTable:
    """An item's answers counted by category of one dimension (rows, in sorted order, as
    `groupby` orders them) and option (columns, in the options' order), with each category's
    number of answers (those without one of the options included)."""

    def __init__(self, answers: pd.DataFrame, dimension: str, options: list) -> None:
        codes, categories = pd.factorize(answers[dimension], sort=True)
        chosen = pd.Index([o.id for o in options]).get_indexer(answers["option_id"])
        groups, k = len(categories), len(options)
        known = codes >= 0
        #: Each answer's category (-1 for none) and the categories, for other passes by group.
        self.codes, self.values = codes, list(categories)
        self.categories = {category: g for g, category in enumerate(categories)}
        self.sizes = np.bincount(codes[known], minlength=groups)
        counted = known & (chosen >= 0)
        cells = np.bincount(codes[counted] * k + chosen[counted], minlength=groups * k)
        self.counts = cells.reshape(groups, k)

    def present(self) -> np.ndarray:
        """The counts of the categories with answers."""
        return self.counts[self.sizes > 0]


class ItemTypeAnalysis:
    """One item's analysis, knowing its options and the run's seed."""

    #: The statistics of this type's results, named so a reader can check them.
    method: ClassVar[str]
    #: Whether groups of unit-weight answers are summarised and tested from their counts per
    #: option (`summarize_counts`, `group_tests_counts`, from an `OptionTable`).
    counted: ClassVar[bool] = False

    def __init__(self, *, item: Item, options: list[ItemOption], seed: int) -> None:
        self.item = item
        self.options = options
        self.seed = seed

    def summarize(self, answers: pd.DataFrame, *, with_samples: bool = True) -> tuple[list, dict]:
        """The option rows (empty for types without options) and the type's summary of a
        non-empty set of answers; `with_samples` is False within groups (free-text samples are
        listed overall and per condition only)."""
        raise NotImplementedError(f"{type(self).__name__} must implement summarize")

    def summarize_counts(self, counts: np.ndarray, n: int) -> tuple[list, dict] | None:
        """The summary of `n` answers of unit weight from how many chose each option (in the
        options' order), equal to `summarize` of those answers; None for a type whose summary
        needs more than the counts (then the answers are summarised themselves)."""
        return None

    def group_tests_counts(self, table: np.ndarray) -> list[dict] | None:
        """`group_tests` from a table of groups (rows) × options (columns, the options' order)
        of counts, for a type whose group tests are tests of that table; None otherwise."""
        return None

    def measures(self) -> list[Measure]:
        """What two conditions are compared on."""
        return []

    def group_tests(self, groups: list[pd.DataFrame]) -> list[dict]:
        """The omnibus test(s) of whether answers differ across the categories of one dimension
        (each a `stats.TestResult`, with an `option` key where a test concerns one option)."""
        return []
