"""A confirmed upload is imported off the request: the confirmation answers 202 with the page
that follows the import, a task (Celery, or in the calling thread in tests) checks the file again
and imports it, recording progress on a PollImport row."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from polls.models import Poll, PollImport, Respondent
from polls.tasks import poll_import_task
from tests.polls.test_admin import _files, admin_client_logged  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

ROWS = [
    '"1",1,"TX","White",0.5,"30-39","HS","Democrat"',
    '"2",0,"MN","Black",-0.5,"70+","Post-grad","Republican"',
]


def _checked_upload(client) -> str:
    response = client.post("/admin/polls/poll/upload/", _files(ROWS))
    assert response.status_code == 200 and response.context["token"]
    return response.context["token"]


def test_the_confirmation_answers_202_and_a_worker_imports_with_progress(
    admin_client_logged,  # noqa: F811
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    settings.RUN_EXECUTOR = "celery"
    sent = []
    monkeypatch.setattr(poll_import_task, "delay", lambda import_id: sent.append(import_id))
    token = _checked_upload(admin_client_logged)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = admin_client_logged.post("/admin/polls/poll/upload/", {"token": token})
    assert confirmed.status_code == 202
    job = PollImport.objects.get(token=token)
    assert confirmed["Location"] == f"/admin/polls/poll/upload/{job.id}/"
    assert sent == [job.id]  # handed to the queue, nothing imported in the request
    assert job.status == PollImport.Status.QUEUED
    assert not Poll.objects.filter(slug="uploaded-poll").exists()
    waiting = admin_client_logged.get(confirmed["Location"])
    assert b'data-status="queued"' in waiting.content and b'http-equiv="refresh"' in waiting.content
    # Confirming again follows the same import instead of starting a second one.
    again = admin_client_logged.post("/admin/polls/poll/upload/", {"token": token})
    assert again.status_code == 302 and again["Location"] == confirmed["Location"]

    assert poll_import_task.apply(args=[job.id]).get() == "completed"  # the worker's turn
    job.refresh_from_db()
    assert (job.polls_done, job.polls_total) == (1, 1)
    assert job.started_at is not None and job.finished_at is not None
    poll = Poll.objects.get(slug="uploaded-poll")
    assert Respondent.objects.filter(poll=poll).count() == 2
    assert LogEntry.objects.filter(object_id=str(poll.pk)).exists()  # in the admin history
    done = admin_client_logged.get(confirmed["Location"])
    assert b'data-status="completed"' in done.content
    assert b"uploaded-poll: 2 respondents" in done.content
    assert b'http-equiv="refresh"' not in done.content
    listing = admin_client_logged.get("/admin/polls/pollimport/")  # operators see every import
    assert listing.status_code == 200 and b"poll.csv" in listing.content


def test_inline_the_import_is_done_when_the_page_answers(
    admin_client_logged,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    token = _checked_upload(admin_client_logged)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = admin_client_logged.post("/admin/polls/poll/upload/", {"token": token})
    assert confirmed.status_code == 202
    assert PollImport.objects.get(token=token).status == PollImport.Status.COMPLETED
    assert Poll.objects.filter(slug="uploaded-poll").exists()


def test_an_upload_gone_before_the_worker_runs_fails_with_a_reason(user):
    from polls.services import poll_import_execute

    job = PollImport.objects.create(token="0" * 32, created_by=user)
    job = poll_import_execute(import_id=job.id)
    assert job.status == PollImport.Status.FAILED
    assert "upload it again" in job.problems[0]
    assert job.finished_at is not None
