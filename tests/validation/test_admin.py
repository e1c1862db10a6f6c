from __future__ import annotations

import pytest

from polls.models import Question
from validation.models import ValidationRun
from validation.services import validation_run_holdout

pytestmark = pytest.mark.django_db


def test_the_admin_lists_holdout_and_design_runs_side_by_side(client, django_user_model):
    admin = django_user_model.objects.create_superuser("curator", password="a-long-test-password")
    client.force_login(admin)
    question = Question.objects.get(poll__slug="anes-1996", code="self-placement-left-right")
    holdout = validation_run_holdout(question=question, seed=1)
    # A queued area-level run has no metrics yet; the listing once failed on it.
    ValidationRun.objects.create(
        question=question,
        design=ValidationRun.Design.SUBSAMPLE,
        status=ValidationRun.Status.QUEUED,
        seed=0,
    )
    page = client.get("/admin/validation/validationrun/")
    assert page.status_code == 200
    html = page.content.decode()
    poll_model = holdout.metrics["overall"]["methods"]["poll_model"]["mae_points"]
    assert "Poll model MAE (pts)" in html and f"{poll_model:.2f}" in html
    assert "—" in html
