"""The poll grounding a persona reads before it answers: real answers of people like it.

The poll selector ranks questions for the study's scenario once per run (text similarity, topic,
recency); each persona then gets, for the top questions, the weighted answer shares in its own
demographic cell, computed in memory by polls.cells.QuestionCells (the offline backend's matching).
Ranking once and matching in memory keeps grounding to microseconds per persona where the
selector's per-persona scoring costs a grouped query each. Items linked to a poll question are
always grounded in it first.
"""

from __future__ import annotations

from typing import Any

from polls.cells import DIMENSION_NAMES, MATCH_ORDER, QuestionCells, persona_describe
from polls.models import Question
from polls.relevance import poll_select_relevant

DEFAULT_QUESTIONS = 4


class Grounding:
    def __init__(
        self,
        *,
        scenario: str,
        linked_question_ids: list[int],
        questions: int,
        load_answers: bool = True,
    ) -> None:
        ids = list(dict.fromkeys(linked_question_ids))
        if scenario.strip() and len(ids) < questions:
            ranked = poll_select_relevant(scenario=scenario, persona=None, limit=questions * 2)
            ids += [q.question_id for q in ranked if q.question_id not in ids]
        ids = ids[: max(questions, len(linked_question_ids))]
        by_id = Question.objects.select_related("poll").prefetch_related("options").in_bulk(ids)
        self.questions = [by_id[i] for i in ids if i in by_id]
        # Without the answers (the cost estimate) only `sized_text` can be used.
        self._cells = {q.id: QuestionCells(q) for q in self.questions} if load_answers else {}

    @property
    def question_ids(self) -> list[int]:
        return [q.id for q in self.questions]

    def sized_text(self, persona: Any) -> str:
        """`text`'s wording for the persona's full cell, with placeholder figures: as long as the
        real grounding to within a few characters (longer where a cell would be widened), and
        made without reading the polls' answers, for the cost estimate."""
        blocks = []
        for question in self.questions:
            poll = question.poll
            head = f"Poll: {poll.title}" + (f" ({poll.year})" if poll.year else "")
            answers = "; ".join(f"{o.label} 00%" for o in question.options.all())
            cell = ", ".join(
                f"{DIMENSION_NAMES[d]} {persona_describe(persona, d)}" for d in MATCH_ORDER
            )
            blocks.append(
                f"{head}\nQuestion: {question.text}\n"
                f"Answers (weighted) among 0,000 respondents like you ({cell}): {answers}."
            )
        return "\n\n".join(blocks)

    def text(self, persona: Any) -> str:
        """One block per question: the poll, the question and the shares in the persona's cell."""
        blocks = []
        for question in self.questions:
            cells = self._cells[question.id]
            poll = question.poll
            head = f"Poll: {poll.title}" + (f" ({poll.year})" if poll.year else "")
            lines = [head, f"Question: {question.text}"]
            if not cells.size:
                lines.append("No respondent-level answers are stored for it.")
                blocks.append("\n".join(lines))
                continue
            cell = cells.cell(persona)
            shares = cell.shares()
            answers = "; ".join(
                f"{o.label} {shares.get(o.id, 0.0):.0%}" for o in question.options.all()
            )
            lines.append(
                f"Answers (weighted) among {cell.count:,} respondents like you "
                f"({cell.describe(persona)}): {answers}."
            )
            if cell.widened_by:
                ignored = ", ".join(DIMENSION_NAMES[d] for d in cell.widened_by)
                lines.append(f"(Too few exact matches: {ignored} ignored.)")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
