"""A question's respondents are read once per process while its poll's data is unchanged, and read
again after an import or an admin edit changes it."""

from __future__ import annotations

import pytest
from django.test import Client

from personas.engine.grounding import Grounding, question_cells
from polls.models import Poll, Respondent, Response

pytestmark = pytest.mark.django_db


def _grounding(question) -> Grounding:
    return Grounding(scenario="", linked_question_ids=[question.id], questions=1)


@pytest.fixture
def curator(django_user_model) -> Client:
    django_user_model.objects.create_superuser("curator", "c@example.org", "a-long-test-password")
    client = Client()
    client.login(username="curator", password="a-long-test-password")
    return client


def test_runs_of_a_process_share_one_read_of_a_questions_respondents(cces_question):
    reads = question_cells.reads
    first, second = _grounding(cces_question), _grounding(cces_question)
    assert question_cells.reads == reads + 1
    assert second._cells[cces_question.id] is first._cells[cces_question.id]
    assert first._cells[cces_question.id].size == cces_question.responses.count()


def test_an_admin_deleting_an_answer_is_seen_by_the_next_run(cces_question, curator):
    before = _grounding(cces_question)._cells[cces_question.id].size
    stamp = Poll.objects.get(pk=cces_question.poll_id).imported_at
    answer = cces_question.responses.order_by("id").first()

    page = curator.post(f"/admin/polls/response/{answer.pk}/delete/", {"post": "yes"})

    assert page.status_code == 302 and not Response.objects.filter(pk=answer.pk).exists()
    assert Poll.objects.get(pk=cces_question.poll_id).imported_at > stamp
    question = type(cces_question).objects.select_related("poll").get(pk=cces_question.pk)
    assert _grounding(question)._cells[question.id].size == before - 1


def test_an_admin_deleting_respondents_in_bulk_has_the_poll_read_again(cces_question, curator):
    respondent = Respondent.objects.filter(poll_id=cces_question.poll_id).order_by("id").first()
    stamp = Poll.objects.get(pk=cces_question.poll_id).imported_at
    reads = question_cells.reads
    _grounding(cces_question)

    page = curator.post(
        "/admin/polls/respondent/?" + f"id__exact={respondent.pk}",
        {
            "action": "delete_selected",
            "_selected_action": [respondent.pk],
            "post": "yes",
        },
    )

    assert page.status_code == 302 and not Respondent.objects.filter(pk=respondent.pk).exists()
    assert Poll.objects.get(pk=cces_question.poll_id).imported_at > stamp
    question = type(cces_question).objects.select_related("poll").get(pk=cces_question.pk)
    _grounding(question)
    assert question_cells.reads == reads + 2
