"""The offline backend, first version: answers drawn from the most similar poll respondents.

For a persona and an item linked to a poll question, the backend takes the respondents who answered
that question and share the persona's demographic cell (sex, race/ethnicity, age, education, income,
state — whichever the poll measured). While fewer than POLL_CELL_MIN_RESPONDENTS remain it widens the
cell by dropping dimensions in a fixed order, then draws one respondent with probability proportional
to survey weight and gives that respondent's answer. The draw is seeded by (run seed, the persona's
position in its population, the item's position in the study), so a re-delivered chunk, or the
same population and run seeds in a fresh database, give the same answers.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings

from personas.models import Persona
from polls.cells import DIMENSION_NAMES, QuestionCells
from studies.backends.base import AnswerDraft
from studies.backends.offline import OfflineBackend
from studies.models import Item, ItemOption, Run


class PollCellBackend(OfflineBackend):
    """The hot-deck baseline: kept beside the poll model so validation can compare them."""

    name = "poll_cell"
    label = "Offline: poll respondents of the same demographic cell"

    def __init__(self, run: Run, items: list[Item]) -> None:
        super().__init__(run, items)
        self.min_cell = settings.POLL_CELL_MIN_RESPONDENTS
        self._data = {item.id: self._load(item) for item in items}

    def _load(self, item: Item) -> tuple[QuestionCells, dict[int, ItemOption]]:
        option_of = {o.poll_option_id: o for o in item.options.all() if o.poll_option_id}
        cells = QuestionCells(item.poll_question, options=option_of, min_cell=self.min_cell)
        if not cells.size:
            raise ValueError(
                f"poll question {item.poll_question_id} has no usable respondent answers"
            )
        return cells, option_of

    def answer(self, *, persona: Persona, item: Item) -> AnswerDraft:
        cells, option_of = self._data[item.id]
        cell = cells.cell(persona)
        if cell.count == 0:  # cannot happen with at least one respondent, but say so if it does
            raise ValueError(f"no respondents to draw from for item {item.code}")
        rng = np.random.default_rng(self.seed(persona, item))
        drawn = int(cell.option_ids[rng.choice(cell.count, p=cell.weights / cell.weights.sum())])
        chosen = option_of[drawn]
        by_poll_option = cell.shares()
        shares = {o.code: by_poll_option.get(p, 0.0) for p, o in option_of.items()}
        question = item.poll_question
        if question is None:  # study_problems refuses such an item before the run starts
            raise ValueError(f"item {item.code} has no poll question to draw answers from")
        poll = question.poll
        year = f", {poll.year}" if poll.year else ""
        reasoning = (
            f"Drawn from {cell.count} respondents of {poll.title}{year} who match this persona on "
            f"{cell.describe(persona)}. In that cell {shares[chosen.code]:.0%} (weighted) answered "
            f"'{chosen.label}'."
        )
        if cell.widened_by:
            reasoning += (
                " Cell widened to reach at least "
                f"{self.min_cell} respondents by ignoring "
                f"{', '.join(DIMENSION_NAMES[d] for d in cell.widened_by)}."
            )
        return AnswerDraft(option_id=chosen.id, reasoning=reasoning, probabilities=shares)
