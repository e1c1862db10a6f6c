from __future__ import annotations

import io

import pytest
import yaml
from django.contrib.admin.models import LogEntry
from django.test import Client

from personas.engine.grounding import Grounding, question_cells
from polls.models import Poll, Respondent, Response
from tests.conftest import CCES_MAPPING

pytestmark = pytest.mark.django_db

HEADER = '"","abortion","state","eth","male","age","educ","party"'


@pytest.fixture
def admin_client_logged(django_user_model) -> Client:
    django_user_model.objects.create_superuser("curator", "c@example.org", "a-long-test-password")
    client = Client()
    client.login(username="curator", password="a-long-test-password")
    return client


def _files(rows: list[str]):
    mapping = yaml.safe_load(CCES_MAPPING.read_text())
    mapping["poll"]["slug"] = "uploaded-poll"
    data = io.BytesIO(("\n".join([HEADER, *rows]) + "\n").encode())
    data.name = "poll.csv"
    spec = io.BytesIO(yaml.safe_dump(mapping).encode())
    spec.name = "mapping.yaml"
    return {"data_file": data, "mapping_file": spec}


def test_a_clean_upload_previews_then_imports_on_confirm(
    admin_client_logged, django_capture_on_commit_callbacks
):
    response = admin_client_logged.post(
        "/admin/polls/poll/upload/",
        _files(['"1",1,"TX","White",0.5,"30-39","HS","Democrat"',
                '"2",0,"MN","Black",-0.5,"70+","Post-grad","Republican"']),
    )  # fmt: skip
    assert response.status_code == 200
    assert b"upload-preview" in response.content and b"Confirm and import" in response.content
    assert not Poll.objects.filter(slug="uploaded-poll").exists()  # nothing before confirming
    token = response.context["token"]
    with django_capture_on_commit_callbacks(execute=True):  # the import task, inline in tests
        confirmed = admin_client_logged.post("/admin/polls/poll/upload/", {"token": token})
    assert confirmed.status_code == 202  # tests/polls/test_upload_import.py: off the request
    poll = Poll.objects.get(slug="uploaded-poll")
    assert Respondent.objects.filter(poll=poll).count() == 2
    assert LogEntry.objects.filter(object_id=str(poll.pk)).exists()  # in the admin history


def test_a_dirty_upload_shows_every_error_and_writes_nothing(admin_client_logged):
    response = admin_client_logged.post(
        "/admin/polls/poll/upload/",
        _files(['"1",1,"TX","Martian",0.5,"30-39","HS","Democrat"',
                '"2",7,"MN","Black",-0.5,"70+","Post-grad","Republican"']),
    )  # fmt: skip
    content = response.content.decode()
    assert "Nothing was imported" in content
    assert "code &#x27;Martian&#x27; is not in the mapping (1 row 2)" in content
    assert "column &#x27;abortion&#x27;: code &#x27;7&#x27;" in content
    assert "Confirm and import" not in content
    assert not Poll.objects.filter(slug="uploaded-poll").exists()


def test_question_page_shows_crosstabs_and_poll_page_shows_data_checks(
    admin_client_logged, cces_question
):
    question_page = admin_client_logged.get(f"/admin/polls/question/{cces_question.id}/change/")
    assert question_page.status_code == 200 and b"asian|other" in question_page.content
    poll_page = admin_client_logged.get(f"/admin/polls/poll/{cces_question.poll_id}/change/")
    assert b"No problems found." in poll_page.content
    assert admin_client_logged.get("/admin/polls/poll/?q=cces").status_code == 200
    assert admin_client_logged.get("/admin/polls/majorevent/").status_code == 200


# --- edits of respondents and answers: what processes keep of the poll is read again ------------


def _grounding(question) -> Grounding:
    return Grounding(scenario="", linked_question_ids=[question.id], questions=1)


def test_an_admin_deleting_an_answer_is_seen_by_the_next_run(cces_question, admin_client_logged):
    before = _grounding(cces_question)._cells[cces_question.id].size
    stamp = Poll.objects.get(pk=cces_question.poll_id).data_changed_at
    answer = cces_question.responses.order_by("id").first()

    page = admin_client_logged.post(f"/admin/polls/response/{answer.pk}/delete/", {"post": "yes"})

    assert page.status_code == 302 and not Response.objects.filter(pk=answer.pk).exists()
    assert Poll.objects.get(pk=cces_question.poll_id).data_changed_at > stamp
    question = type(cces_question).objects.select_related("poll").get(pk=cces_question.pk)
    assert _grounding(question)._cells[question.id].size == before - 1


def test_an_admin_deleting_respondents_in_bulk_has_the_poll_read_again(
    cces_question, admin_client_logged
):
    respondent = Respondent.objects.filter(poll_id=cces_question.poll_id).order_by("id").first()
    stamp = Poll.objects.get(pk=cces_question.poll_id).data_changed_at
    reads = question_cells.reads
    _grounding(cces_question)

    page = admin_client_logged.post(
        "/admin/polls/respondent/?" + f"id__exact={respondent.pk}",
        {
            "action": "delete_selected",
            "_selected_action": [respondent.pk],
            "post": "yes",
        },
    )

    assert page.status_code == 302 and not Respondent.objects.filter(pk=respondent.pk).exists()
    assert Poll.objects.get(pk=cces_question.poll_id).data_changed_at > stamp
    question = type(cces_question).objects.select_related("poll").get(pk=cces_question.pk)
    _grounding(question)
    assert question_cells.reads == reads + 2
