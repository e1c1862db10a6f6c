from __future__ import annotations

import pytest
from django.test import override_settings

from polls.models import Question, Response
from tests.validation.factories import bare_poll, weighted_poll
from validation import versions
from validation.models import ValidationRun, ValidationTarget
from validation.targets import (
    MIN_TARGET_RESPONDENTS,
    validation_targets_due,
    validation_targets_revalidate,
    validation_targets_sync,
)
from validation.tasks import validation_targets_revalidate_task

pytestmark = pytest.mark.django_db


def test_importing_a_poll_makes_its_large_questions_targets():
    # The reference polls are imported through polls.services.poll_import at session start.
    cces = Question.objects.get(poll__slug="cces-2018-abortion")
    target = ValidationTarget.objects.get(question=cces)
    assert target.active and target.respondents == Response.objects.filter(question=cces).count()


def test_a_question_with_too_few_answers_is_no_target_and_a_shrunk_one_is_switched_off():
    small = bare_poll(n=MIN_TARGET_RESPONDENTS - 1)
    assert validation_targets_sync(poll=small.poll) == []
    assert not ValidationTarget.objects.filter(question=small).exists()

    question = weighted_poll(n=MIN_TARGET_RESPONDENTS + 100)
    (target,) = validation_targets_sync(poll=question.poll)
    assert target.respondents == MIN_TARGET_RESPONDENTS + 100
    keep = list(Response.objects.filter(question=question).values_list("id", flat=True)[:200])
    Response.objects.filter(question=question).exclude(id__in=keep).delete()
    assert validation_targets_sync(poll=question.poll) == []
    target.refresh_from_db()
    assert not target.active and target.respondents == 200


@pytest.fixture
def only_target():
    """One active target (the reference polls' targets switched off), not yet validated."""
    ValidationTarget.objects.update(active=False)
    question = weighted_poll(n=1000)
    (target,) = validation_targets_sync(poll=question.poll)
    return target


def _due_reasons() -> dict[int, str]:
    return {d.target.id: d.reason for d in validation_targets_due()}


def test_a_target_is_validated_once_and_again_only_when_a_version_changes(only_target, monkeypatch):
    assert _due_reasons() == {only_target.id: "never validated"}
    (run,) = validation_targets_revalidate()
    assert run.status == ValidationRun.Status.QUEUED and run.target == only_target
    assert run.model_version == f"poll_model:{versions.MODEL_VERSION}"
    assert run.code_version == versions.VALIDATION_CODE_VERSION and len(run.data_version) == 32
    # Queued with the current versions: not queued twice, whatever its state.
    assert validation_targets_revalidate() == []
    ValidationRun.objects.filter(id=run.id).update(status=ValidationRun.Status.FAILED)
    assert _due_reasons() == {}

    with override_settings(CODE_VERSION="abc123"):
        assert _due_reasons() == {only_target.id: "changed: code_version"}
    monkeypatch.setattr(versions, "MODEL_VERSION", "mrp-2")
    assert _due_reasons() == {only_target.id: "changed: model_version"}
    monkeypatch.undo()

    answer = Response.objects.filter(question=only_target.question).first()
    other = only_target.question.options.exclude(id=answer.option_id).first()
    Response.objects.filter(id=answer.id).update(option=other)
    assert _due_reasons() == {only_target.id: "changed: data_version"}


def test_the_same_data_reimported_under_new_ids_keeps_its_data_version(only_target):
    question = only_target.question
    before = versions.data_version(question)
    rows = list(Response.objects.filter(question=question).values("respondent_id", "option_id"))
    Response.objects.filter(question=question).delete()
    Response.objects.bulk_create(
        Response(question=question, respondent_id=r["respondent_id"], option_id=r["option_id"])
        for r in reversed(rows)
    )
    assert versions.data_version(question) == before


def test_the_beat_task_runs_a_due_target_to_a_stored_score_and_then_rests(
    only_target, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        (run_id,) = validation_targets_revalidate_task()
    run = ValidationRun.objects.get(id=run_id)
    assert run.status == ValidationRun.Status.COMPLETED, run.error_message
    assert run.n_train + run.n_test == 1000
    assert set(run.metrics["calibration"]) == set(run.metrics["methods"])
    with django_capture_on_commit_callbacks(execute=True):
        assert validation_targets_revalidate_task() == []
    assert ValidationRun.objects.filter(target=only_target).count() == 1
