"""Respondents younger than the mapping's min_age: kept, dropped with a count, or a clear error."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client

from polls.importers import PollImportError, poll_import_plan
from polls.models import Poll, Respondent


def _mapping(**age) -> dict:
    return {
        "poll": {
            "slug": "age-test-poll",
            "title": "Age test poll",
            "pollster": "Test",
            "population": "Residents aged 15 and over",
            "source": "built in the test",
        },
        "missing": ["", "NA"],
        "demographics": {"age": {"column": "age", "numeric": True, **age}},
        "questions": [
            {
                "code": "q",
                "column": "answer",
                "text": "Yes or no?",
                "options": [
                    {"code": "yes", "label": "Yes", "codes": ["1"]},
                    {"code": "no", "label": "No", "codes": ["0"]},
                ],
            }
        ],
    }


def _frame(ages: list, answers: list | None = None) -> pd.DataFrame:
    return pd.DataFrame({"age": ages, "answer": answers or ["1"] * len(ages)})


def _ages(plan) -> list[int | None]:
    return [r.age_min for r in plan.respondents]


def test_respondents_under_the_default_min_age_fail_with_both_ways_out():
    with pytest.raises(PollImportError) as info:
        poll_import_plan(_frame([15, 40, 15, 17, 16]), _mapping())
    (problem,) = info.value.problems
    assert problem.startswith(
        "column 'age': 2 respondents are younger than 16 (aged 15; rows 2, 4); "
    )
    assert "lower the age's min_age (min_age: 15)" in problem
    assert "set below_min: drop under the age (min_age: 18 keeps adults only)" in problem


def test_lowering_min_age_keeps_15_to_17_year_olds():
    plan = poll_import_plan(_frame([15, 40, 17]), _mapping(min_age=15))
    assert _ages(plan) == [15, 40, 17]
    assert plan.dropped == []


def test_below_min_drop_leaves_minors_out_and_counts_them():
    # A dropped respondent's other columns are not checked: the 7 is never imported.
    plan = poll_import_plan(
        _frame([15, 40, 17, 18, "NA"], ["7", "1", "0", "1", "0"]),
        _mapping(min_age=18, below_min="drop"),
    )
    assert _ages(plan) == [40, 18, None]  # an unknown age is kept as unknown
    assert plan.rows_read == 5
    assert plan.dropped_summary == "2 respondents younger than 18 (age below_min: drop)"


def test_an_age_under_min_age_fails_when_the_mapping_names_min_age_without_drop():
    with pytest.raises(
        PollImportError, match=r"1 respondent is younger than 18 \(aged 17; row 3\)"
    ):
        poll_import_plan(_frame([40, 17]), _mapping(min_age=18))


@pytest.mark.parametrize("age", ["40.5", "-1", "121", "forty"])
def test_ages_that_are_no_age_are_refused_with_the_missing_hint(age):
    with pytest.raises(
        PollImportError, match=r"ages must be whole numbers 0–120 \(row 3\).*'missing'"
    ):
        poll_import_plan(_frame(["40", age]), _mapping())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"min_age": "eighteen"}, "age 'min_age' must be a whole number 0–120"),
        ({"min_age": 130}, "age 'min_age' must be a whole number 0–120"),
        ({"below_min": "keep"}, "age 'below_min' must be one of error, drop"),
    ],
)
def test_a_wrong_min_age_setting_is_refused(spec, message):
    with pytest.raises(PollImportError, match=message):
        poll_import_plan(_frame([40]), _mapping(**spec))


def _bracket_mapping(**age) -> dict:
    mapping = _mapping(**age)
    mapping["demographics"]["age"] = {
        "column": "age",
        "brackets": {"15-17": [15, 17], "18-29": [18, 29], "30+": [30, 120]},
        **age,
    }
    return mapping


def test_brackets_are_taken_as_written_without_min_age():
    plan = poll_import_plan(_frame(["15-17", "30+"]), _bracket_mapping())
    assert [(r.age_min, r.age_max) for r in plan.respondents] == [(15, 17), (30, 120)]


def test_a_bracket_wholly_under_min_age_is_dropped_with_below_min_drop():
    plan = poll_import_plan(
        _frame(["15-17", "30+", "18-29"]), _bracket_mapping(min_age=18, below_min="drop")
    )
    assert _ages(plan) == [30, 18]
    assert plan.dropped_summary == "1 respondent younger than 18 (age below_min: drop)"


def test_a_bracket_under_min_age_fails_naming_the_bracket():
    with pytest.raises(
        PollImportError, match=r"1 respondent is younger than 18 \(aged 15-17; row 2\)"
    ):
        poll_import_plan(_frame(["15-17", "30+"]), _bracket_mapping(min_age=18))


def test_a_bracket_straddling_min_age_is_an_error():
    with pytest.raises(PollImportError, match="bracket '18-29' \\(18–29\\) straddles min_age 21"):
        poll_import_plan(_frame(["30+"]), _bracket_mapping(min_age=21, below_min="drop"))


@pytest.mark.django_db
def test_minors_make_the_command_fail_and_store_nothing(tmp_path):
    csv = tmp_path / "poll.csv"
    csv.write_text("age,answer\n40,1\n15,0\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(_mapping()))
    with pytest.raises(CommandError) as info:
        call_command("import_poll", csv=str(csv), mapping=mapping, stdout=io.StringIO())
    assert "Nothing was imported" in str(info.value)
    assert "below_min: drop" in str(info.value)
    assert not Poll.objects.filter(slug="age-test-poll").exists()


@pytest.mark.django_db
def test_the_import_summary_reports_the_minors_left_out(tmp_path):
    csv = tmp_path / "poll.csv"
    csv.write_text("age,answer\n40,1\n15,0\n16,1\n67,0\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(_mapping(min_age=18, below_min="drop")))
    out = io.StringIO()
    call_command("import_poll", csv=str(csv), mapping=mapping, stdout=out)
    assert (
        "Left out as the mapping says: 2 respondents younger than 18 (age below_min: drop)."
        in out.getvalue()
    )
    ages = Respondent.objects.filter(poll__slug="age-test-poll").values_list("age_min", flat=True)
    assert sorted(ages) == [40, 67]
    assert Poll.objects.get(slug="age-test-poll").sample_size == 2


@pytest.mark.django_db
def test_the_admin_upload_says_who_is_left_out_before_and_after_confirming(
    django_user_model, django_capture_on_commit_callbacks
):
    django_user_model.objects.create_superuser("curator", "c@example.org", "a-long-test-password")
    client = Client()
    client.login(username="curator", password="a-long-test-password")
    data = io.BytesIO(b"age,answer\n40,1\n15,0\n")
    data.name = "poll.csv"
    spec = io.BytesIO(yaml.safe_dump(_mapping(min_age=18, below_min="drop")).encode())
    spec.name = "mapping.yaml"
    preview = client.post("/admin/polls/poll/upload/", {"data_file": data, "mapping_file": spec})
    said = "left out as the mapping says: 1 respondent younger than 18 (age below_min: drop)"
    assert said in preview.content.decode()
    # The import runs once the confirming request commits (inline here, a worker in production);
    # the status page it answers with then lists what was imported and who was left out.
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post("/admin/polls/poll/upload/", {"token": preview.context["token"]})
    assert confirmed.status_code == 202
    status = client.get(confirmed["Location"])
    assert said in status.content.decode()
    assert Respondent.objects.filter(poll__slug="age-test-poll").count() == 1
