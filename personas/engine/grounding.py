"""The poll grounding a persona reads before it answers: real answers of people like it.

The poll selector ranks questions for the study's scenario once per run (text similarity, topic,
recency); each persona then gets, for the top questions, the weighted answer shares in its own
demographic cell, computed in memory by polls.cells.QuestionCells (the offline backend's matching).
Ranking once and matching in memory keeps grounding to microseconds per persona where the
selector's per-persona scoring costs a grouped query each. Items linked to a poll question are
always grounded in it first.

A question's respondents are read once per process and kept (`_QuestionCellsCache`) while its
poll's data is unchanged: reading four questions' answers took about a tenth of an LLM run's CPU,
in every run and, on workers, in every chunk. A poll's data changes by re-import or an admin edit,
each of which moves `Poll.data_changed_at` (`polls.services.poll_import`, and
`poll_data_changed` for the admin's edits of respondents and answers); the key includes it, so a
changed poll is read again. Anything else that edits answers behind the application's back (SQL in
a shell) is seen within `CELLS_CACHE_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from config.process_cache import process_cache_register
from polls.cells import DIMENSION_NAMES, MATCH_ORDER, QuestionCells, persona_describe
from polls.models import Question
from polls.relevance import poll_select_relevant

DEFAULT_QUESTIONS = 4
# How many questions' respondents a process keeps, and for how long at most.
CELLS_CACHE_QUESTIONS = 16
CELLS_CACHE_SECONDS = 600.0


class _QuestionCellsCache:
    """Questions' respondents in memory, least recently used first out, keyed by the question and
    its poll's `data_changed_at`. A `QuestionCells` is read-only once built but for the masks it
    caches (each set whole), so runs and threads of a process share one."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple, tuple[float, QuestionCells]] = OrderedDict()
        self._lock = threading.Lock()
        self.reads = 0  # questions read from the database (tests)

    def get(self, question: Question) -> QuestionCells:
        key = (question.id, question.poll.data_changed_at)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                return entry[1]
        cells = QuestionCells(question)  # outside the lock: two threads may both read it once
        with self._lock:
            self.reads += 1
            self._entries[key] = (now + CELLS_CACHE_SECONDS, cells)
            self._entries.move_to_end(key)
            while len(self._entries) > CELLS_CACHE_QUESTIONS:
                self._entries.popitem(last=False)
        return cells

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


question_cells = _QuestionCellsCache()
process_cache_register(question_cells.clear)


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
        self._cells = {q.id: question_cells.get(q) for q in self.questions} if load_answers else {}

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
