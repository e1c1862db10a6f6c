from __future__ import annotations

import math
from collections import Counter

import pytest
from django.conf import settings
from django.core.management import call_command

from environment.categories import AGE_BRACKETS
from personas.models import Persona
from personas.services import AreaWeight, population_create
from polls.models import Option, Poll, Question, Respondent, Response
from polls.relevance import COVERAGE_TARGET, WEIGHTS, poll_select_relevant

pytestmark = pytest.mark.django_db

CCES_ITEM = "employers-decline-abortion-coverage"
ANES_VOTE = "vote-1996"
ANES_IDEOLOGY = "self-placement-left-right"
# Touches all three real questions: abortion coverage, the 1996 vote and left-right placement.
BROAD = (
    "Abortion coverage by employers, the 1996 presidential vote and liberal or conservative views"
)


@pytest.fixture
def dallas_personas() -> list[Persona]:
    population = population_create(size=300, areas=[AreaWeight("dallas_tx_city")], seed=2024)
    return list(population.personas.select_related("area"))


def test_a_scenario_about_banning_abortion_ranks_the_cces_abortion_item_first():
    selection = poll_select_relevant(
        scenario="A state law banning abortion after six weeks of pregnancy"
    )
    assert selection[0].question_code == CCES_ITEM
    assert selection[0].poll_year == 2018
    assert "abortion" in selection[0].matched_topics
    # The 1996 election items say nothing about abortion: they are not relevant at all.
    assert {q.question_code for q in selection} == {CCES_ITEM}


@pytest.mark.parametrize(
    ("scenario", "first"),
    [
        (
            "Would you vote for Bill Clinton or Bob Dole in the 1996 presidential election?",
            ANES_VOTE,
        ),
        ("How liberal or conservative do voters consider themselves?", ANES_IDEOLOGY),
    ],
)
def test_scenarios_about_the_1996_vote_or_ideology_rank_the_anes_items_first(scenario, first):
    selection = poll_select_relevant(scenario=scenario)
    assert selection[0].question_code == first
    assert selection[0].poll_slug == "anes-1996"
    assert CCES_ITEM not in [q.question_code for q in selection]


def test_given_topics_find_a_question_whose_wording_does_not_match():
    selection = poll_select_relevant(
        scenario="Should the new state budget change what clinics may offer?", topics=["Abortion"]
    )
    assert [q.question_code for q in selection] == [CCES_ITEM]
    assert selection.topics_source == "given"
    assert selection[0].parts.topic_match == 1.0


def test_a_scenario_unrelated_to_every_poll_returns_nothing():
    selection = poll_select_relevant(scenario="Pizza toppings at the office party")
    assert list(selection) == [] and selection.skipped == []


def test_score_parts_are_in_unit_range_and_the_score_is_their_weighted_sum(dallas_personas):
    assert math.isclose(sum(WEIGHTS.as_dict().values()), 1.0)
    selection = poll_select_relevant(scenario=BROAD, persona=dallas_personas[0])
    assert {q.question_code for q in selection} == {CCES_ITEM, ANES_VOTE, ANES_IDEOLOGY}
    for question in selection:
        parts = question.parts.as_dict()
        assert all(0.0 <= value <= 1.0 for value in parts.values()), parts
        expected = sum(WEIGHTS.as_dict()[name] * value for name, value in parts.items())
        assert question.score == pytest.approx(expected, abs=1e-12)
        assert question.weights == WEIGHTS
    scores = [q.score for q in selection]
    assert scores == sorted(scores, reverse=True)
    # Recency is relative to the newest poll: CCES 2018 is it; ANES 1996 is 22 years older.
    by_code = {q.question_code: q for q in selection}
    assert by_code[CCES_ITEM].parts.recency == 1.0
    assert by_code[ANES_VOTE].parts.recency == pytest.approx(0.5 ** (22 / 8), rel=0.01)


def test_the_grounding_text_carries_the_question_options_shares_poll_and_year(dallas_personas):
    persona = dallas_personas[0]
    selection = poll_select_relevant(
        scenario="employers declining abortion coverage", persona=persona
    )
    question = selection[0]
    text = question.grounding_text
    assert "Cooperative Congressional Election Study 2018" in text and "(2018" in text
    assert "decline coverage of abortions" in text
    assert "Support" in text and "Oppose" in text and "%" in text
    assert question.grounding_respondents >= 30  # widened to POLL_CELL_MIN_RESPONDENTS if needed
    assert sum(s.share for s in question.answer_shares) == pytest.approx(1.0)
    assert question.tokens == math.ceil(len(text) / 4)


def _cces_cell_counts(personas: list[Persona]) -> dict[int, int]:
    """Respondents to the CCES item in each persona's full cell, counted independently in Python."""
    keys = Counter(
        Respondent.objects.filter(poll__slug="cces-2018-abortion").values_list(
            "sex", "race_ethnicity", "education", "state", "age_min", "age_max"
        )
    )
    counts = {}
    for p in personas:
        lo, hi = AGE_BRACKETS[p.age_bracket]
        counts[p.id] = sum(
            n
            for (sex, race, edu, state, age_min, age_max), n in keys.items()
            if p.sex in sex.split("|")
            and p.race_ethnicity in race.split("|")
            and p.education in edu.split("|")
            and state == p.area.state
            and age_min is not None
            and (age_min <= p.age <= age_max or (age_min == age_max and lo <= age_min <= hi))
        )
    return counts


def test_a_persona_in_a_well_polled_cell_gets_higher_coverage_than_one_in_a_thin_cell(
    dallas_personas,
):
    counts = _cces_cell_counts(dallas_personas)
    many = max(dallas_personas, key=lambda p: counts[p.id])
    few = min(dallas_personas, key=lambda p: counts[p.id])
    assert counts[many.id] > counts[few.id]

    def cces(persona):
        selection = poll_select_relevant(scenario="abortion coverage", persona=persona)
        return next(q for q in selection if q.question_code == CCES_ITEM)

    rich, thin = cces(many), cces(few)
    assert rich.cell_respondents == counts[many.id]
    assert thin.cell_respondents == counts[few.id]
    assert rich.parts.cell_coverage > thin.parts.cell_coverage
    assert thin.parts.cell_coverage == pytest.approx(min(1.0, counts[few.id] / COVERAGE_TARGET))
    # The thinnest Dallas cell is below the minimum: it is widened for the shares, and the text
    # says which dimensions were ignored.
    assert counts[few.id] < settings.POLL_CELL_MIN_RESPONDENTS
    assert thin.grounding_respondents >= settings.POLL_CELL_MIN_RESPONDENTS
    assert thin.cell_widened_by and "Cell widened" in thin.grounding_text
    assert thin.cell_widened_by[0] == "age"  # income is not measured by the CCES; age goes next


def test_without_a_persona_coverage_counts_the_whole_sample():
    selection = poll_select_relevant(scenario="abortion coverage")
    assert selection[0].cell_respondents == 59_756
    assert selection[0].parts.cell_coverage == 1.0
    assert "all 59,756 respondents" in selection[0].grounding_text


def test_the_budget_trims_the_list_and_reports_what_was_skipped():
    everything = poll_select_relevant(scenario=BROAD, budget_tokens=20_000)
    assert len(everything) == 3 and everything.skipped == []
    first = everything[0]

    # Room for the best question only: the rest are skipped, each with its reason.
    tight = poll_select_relevant(
        scenario=BROAD, budget_tokens=first.tokens + min(q.tokens for q in everything[1:]) - 1
    )
    assert [q.question_id for q in tight] == [first.question_id]
    assert tight.tokens_used <= tight.budget_tokens
    assert {s.question_id for s in tight.skipped} == {q.question_id for q in everything[1:]}
    assert {s.reason for s in tight.skipped} == {"budget_spent"}
    assert "only" in tight.skipped[0].message and "left" in tight.skipped[0].message

    # A question whose grounding alone exceeds the budget is never dropped silently.
    tiny = poll_select_relevant(scenario=BROAD, budget_tokens=min(q.tokens for q in everything) - 1)
    assert list(tiny) == []
    assert [s.question_id for s in tiny.skipped] == [q.question_id for q in everything]
    assert {s.reason for s in tiny.skipped} == {"larger_than_budget"}
    assert "more than the whole budget" in tiny.skipped[0].message


def test_limit_caps_the_number_of_questions_and_reports_the_rest():
    selection = poll_select_relevant(scenario=BROAD, limit=1)
    assert len(selection) == 1
    assert [s.reason for s in selection.skipped] == ["limit", "limit"]


def _add_poll_with_questions(count: int) -> None:
    poll = Poll.objects.create(
        slug="test-many-questions",
        title="Test poll with many questions",
        pollster="Test",
        year=2010,
        population="test",
        source="created in the test",
        topic_tags=["abortion"],
    )
    questions = Question.objects.bulk_create(
        Question(
            poll=poll, code=f"q{i}", text=f"Abortion question number {i}", topic_tags=["abortion"]
        )
        for i in range(count)
    )
    options = Option.objects.bulk_create(
        Option(question=q, code=code, label=code.title(), order=k)
        for q in questions
        for k, code in enumerate(["yes", "no"])
    )
    respondents = Respondent.objects.bulk_create(
        Respondent(
            poll=poll,
            external_id=str(i),
            sex="female" if i % 2 else "male",
            education="hs|some_college",
            state="TX",
            age_min=20 + i,
            age_max=20 + i,
        )
        for i in range(40)
    )
    Response.objects.bulk_create(
        Response(respondent=r, question=q, option=options[2 * qi + (ri % 2)])
        for qi, q in enumerate(questions)
        for ri, r in enumerate(respondents)
    )


def test_the_number_of_queries_does_not_grow_with_the_number_of_questions(
    dallas_personas, django_assert_max_num_queries
):
    # The persona's area, the questions, their options, measured demographics, one grouped count.
    persona = Persona.objects.get(pk=dallas_personas[0].pk)  # area not loaded yet: counted too
    with django_assert_max_num_queries(5):
        small = poll_select_relevant(scenario="abortion", persona=persona)
    _add_poll_with_questions(60)
    persona = Persona.objects.get(pk=dallas_personas[0].pk)
    with django_assert_max_num_queries(5):
        large = poll_select_relevant(scenario="abortion", persona=persona, budget_tokens=20_000)
    assert len(large) + len(large.skipped) == len(small) + len(small.skipped) + 60


# --- the API ------------------------------------------------------------------------------------

URL = "/api/v1/polls/relevant/"


def test_the_api_returns_the_ranked_questions_with_their_explanation(api, dallas_personas):
    persona = dallas_personas[0]
    response = api.post(
        URL, {"scenario": BROAD, "persona": persona.id, "budget_tokens": 20_000}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["results"][0]["question_code"] in {CCES_ITEM, ANES_VOTE, ANES_IDEOLOGY}
    assert len(body["results"]) == 3 and body["skipped"] == []
    assert body["topics_source"] == "inferred" and "abortion" in body["topics"]
    assert body["scoring"]["weights"] == WEIGHTS.as_dict()
    first = body["results"][0]
    assert set(first["parts"]) == {"text_similarity", "topic_match", "cell_coverage", "recency"}
    assert first["grounding_text"] and first["tokens"] > 0
    assert body["tokens_used"] == sum(r["tokens"] for r in body["results"])


def test_the_api_reports_skipped_questions_when_the_budget_is_small(api):
    response = api.post(URL, {"scenario": BROAD, "budget_tokens": 50}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == []
    assert {s["reason"] for s in body["skipped"]} == {"larger_than_budget"}


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"scenario": ""}, "scenario", "scenario"),
        ({"scenario": "   "}, "scenario", "scenario"),
        ({}, "scenario", "scenario"),
        ({"scenario": "abortion", "persona": 987_654_321}, "persona", "Unknown persona 987654321"),
        ({"scenario": "abortion", "persona": "alice"}, "persona", "Expected an integer"),
        ({"scenario": "abortion", "budget_tokens": 10}, "budget_tokens", "budget_tokens"),
        ({"scenario": "abortion", "budget_tokens": 20_001}, "budget_tokens", "budget_tokens"),
        ({"scenario": "abortion", "topics": "abortion"}, "topics", "topics"),
    ],
)
def test_bad_relevance_input_is_a_400_naming_the_field(api, payload, field, fragment):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert fragment in error["message"]


def test_the_api_requires_authentication(anonymous_api):
    response = anonymous_api.post(URL, {"scenario": "abortion"}, format="json")
    assert response.status_code in (401, 403)


def test_the_relevance_route_is_in_the_schema_which_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/polls/relevant/" in text and "RelevantQuestion" in text
