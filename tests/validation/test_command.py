"""`manage.py validate_question` prints every metric."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from validation.holdout import METHODS
from validation.models import ValidationRun

pytestmark = pytest.mark.django_db
ANES = {"poll": "anes-1996", "question": "self-placement-left-right"}


def _run(*args, **options) -> str:
    out = StringIO()
    call_command("validate_question", *args, stdout=out, **options)
    return out.getvalue()


def test_the_holdout_prints_every_metric_for_every_method():
    text = _run(seed=1, **ANES)
    for method in METHODS:
        assert f"\n    {method} " in text, method
    for column in ("MAE pts", "TVD", "JS", "repr", "rank r", "coverage"):
        assert column in text
    # Small groups are shown with their n; constant baselines have no rank correlation.
    assert "By age: 6 groups; small (n < 30, included in 'all groups'): 18_24 " in text
    assert "large_groups (groups with n >= 30 only;" in text
    uniform_rows = [line for line in text.splitlines() if line.startswith("    uniform ")]
    assert uniform_rows and all(" none " in row for row in uniform_rows[1:])
    assert "Coverage of 95% intervals, pooled over (group, option) pairs" in text
    assert "Kish effective sample size" in text
    run = ValidationRun.objects.get()
    assert run.design == ValidationRun.Design.HOLDOUT and run.seed == 1
