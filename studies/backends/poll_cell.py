"""The offline backend, first version: answers drawn from the most similar poll respondents.

For a persona and an item linked to a poll question, the backend takes the respondents who answered
that question and share the persona's demographic cell (sex, race/ethnicity, age, education, income,
state — whichever the poll measured). While fewer than POLL_CELL_MIN_RESPONDENTS remain it widens the
cell by dropping dimensions in a fixed order, then draws one respondent with probability proportional
to survey weight and gives that respondent's answer. The draw is seeded by (run seed, persona, item),
so a re-delivered chunk gives the same answers.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings

from personas.engine.persona_sheet import profile_doc, structured_narrative
from personas.engine.results import STRUCTURED_SOURCE
from personas.models import Persona
from polls.cells import DIMENSION_NAMES, QuestionCells
from polls.models import Response
from studies.backends.base import AnswerDraft, PersonaResult, RespondentBackend
from studies.models import Item, ItemOption, Run, Study


class PollCellBackend(RespondentBackend):
    """Free, with no configuration, one persona at a time: the base class's defaults."""

    name = "poll_cell"
    label = "Offline: poll respondents of the same demographic cell"

    @classmethod
    def study_problems(cls, study: Study) -> list[str]:
        problems = []
        for item in study.items.all():
            if item.poll_question_id is None:
                problems.append(
                    f"Item '{item.code}' is not linked to a poll question, and the offline backend "
                    "answers only from real poll data: link it with poll_question (see "
                    "/api/v1/polls/) or choose another backend."
                )
                continue
            if not Response.objects.filter(question_id=item.poll_question_id).exists():
                problems.append(
                    f"Item '{item.code}' is linked to poll question {item.poll_question_id}, which "
                    "has no respondent answers to draw from."
                )
            unlinked = [o.code for o in item.options.all() if o.poll_option_id is None]
            if unlinked:
                problems.append(
                    f"Item '{item.code}' has options with no poll option behind them: "
                    f"{', '.join(unlinked)}."
                )
        return problems

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
        rng = np.random.default_rng([int(self.run.seed), int(persona.id), int(item.id)])
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

    def answer_persona(self, persona: Persona) -> PersonaResult:
        """Every item's answer, with a context worded from the structured profile (labelled so)."""
        answers = {item.id: self.answer(persona=persona, item=item) for item in self.items}
        doc = profile_doc(persona)
        codes = {o.id: o.code for item in self.items for o in item.options.all()}
        return PersonaResult(
            answers=answers,
            narrative_source=STRUCTURED_SOURCE,
            profile=doc.model_dump(mode="json"),
            context=structured_narrative(doc).model_dump(mode="json"),
            response={
                "responses": [
                    {"item": item.code, "answer": codes[d.option_id], "reasoning": d.reasoning}
                    for item, d in ((i, answers[i.id]) for i in self.items)
                ],
                "source": self.label,
            },
        )
