"""Validation measures the rule the backend runs: for the same persona, the offline backend, the
relevance ranking and the validation draw the same respondents."""

from __future__ import annotations

import pandas as pd
import pytest
from django.conf import settings

from personas.services import AreaWeight, population_create
from polls.cells import MATCH_ORDER, CellProfile, QuestionCells, cells_by_question
from polls.models import Question
from polls.relevance import poll_select_relevant
from tests.conftest import DEMO_AREAS
from validation.holdout import CellPredictor, answers_frame

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("poll", "code", "scenario"),
    [
        ("cces-2018-abortion", "employers-decline-abortion-coverage", "abortion coverage"),
        ("anes-1996", "vote-1996", "the 1996 presidential vote"),
    ],
)
def test_the_backend_relevance_and_validation_cells_are_the_same_respondents(poll, code, scenario):
    question = Question.objects.get(poll__slug=poll, code=code)
    population = population_create(size=40, areas=[AreaWeight(a) for a in DEMO_AREAS], seed=11)
    personas = list(population.personas.select_related("area"))

    backend = QuestionCells(question)  # what studies.backends.poll_cell draws from
    relevance = cells_by_question([question.id])[question.id]
    frame = answers_frame(question)  # validation with every respondent in the training part
    option_ids = list(question.options.values_list("id", flat=True))
    validation = CellPredictor(frame, option_ids, MATCH_ORDER, settings.POLL_CELL_MIN_RESPONDENTS)

    widened = 0
    for i, persona in enumerate(personas):
        drawn = backend.cell(persona)
        expected = sorted(backend.respondent_ids[drawn.mask])
        assert drawn.count >= settings.POLL_CELL_MIN_RESPONDENTS
        widened += bool(drawn.widened_by)

        ranked = relevance.cell(persona)
        assert sorted(relevance.respondent_ids[ranked.mask]) == expected

        profile = CellProfile.of_persona(persona)
        validated = validation.cells.cell(profile)
        assert sorted(frame["respondent_id"][validated.mask]) == expected, persona
        predicted = validation.predict(profile)
        shares = drawn.shares()
        assert predicted.tolist() == pytest.approx([shares.get(o, 0.0) for o in option_ids])

        if i % 4 == 0:  # the ranking end to end, for every fourth persona (each reads the poll)
            selection = poll_select_relevant(scenario=scenario, persona=persona, budget_tokens=9999)
            grounded = next(q for q in selection if q.question_id == question.id)
            assert grounded.grounding_respondents == drawn.count
            assert grounded.cell_respondents == drawn.exact_count
            assert grounded.cell_widened_by == drawn.widened_by
    # The sample exercises the widening, not only full cells.
    assert widened > 0


def test_a_held_out_respondent_is_matched_on_the_categories_a_stored_value_spans():
    # Validation once compared the stored strings, so "lt_hs" never met "lt_hs|hs" (Chile 1988,
    # GSS 2018 abortion items); the backend's rule puts a persona with less than high school in
    # that cell, and validation now does too.
    train = pd.DataFrame(
        {
            "option_id": [1] * 30 + [2] * 30,
            "weight": 1.0,
            "education": ["lt_hs|hs"] * 30 + ["bachelors"] * 30,
            **{d: "" for d in ("sex", "race_ethnicity", "income", "state")},
            "age_min": None,
            "age_max": None,
        }
    )
    predictor = CellPredictor(train, [1, 2], MATCH_ORDER, min_cell=30)
    held_out = CellProfile.of_respondent({"education": "lt_hs"})
    assert predictor.predict(held_out).tolist() == [1.0, 0.0]
