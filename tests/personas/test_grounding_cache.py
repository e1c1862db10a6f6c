"""A question's respondents are read once per process while its poll's data is unchanged (the
admin's edits that change it: tests/polls/test_admin.py)."""

from __future__ import annotations

import pytest

from personas.engine.grounding import Grounding, question_cells

pytestmark = pytest.mark.django_db


def _grounding(question) -> Grounding:
    return Grounding(scenario="", linked_question_ids=[question.id], questions=1)


def test_runs_of_a_process_share_one_read_of_a_questions_respondents(cces_question):
    reads = question_cells.reads
    first, second = _grounding(cces_question), _grounding(cces_question)
    assert question_cells.reads == reads + 1
    assert second._cells[cces_question.id] is first._cells[cces_question.id]
    assert first._cells[cces_question.id].size == cces_question.responses.count()
