"""The poll-model backend in runs: reproducible draws, model-based results, universes, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from config.errors import DomainError
from personas.services import AreaWeight, population_create
from polls.models import Option, Poll, Question, Respondent, Response
from studies.models import Answer, Run
from studies.pipeline import run_finalize, run_process_chunk
from studies.services import ItemSpec, run_start, study_create
from tests.conftest import DEMO_AREAS

pytestmark = pytest.mark.django_db


def _run(study, population, reporter, *, seed=9) -> Run:
    run = run_start(study=study, population=population, seed=seed, backend="poll_model")
    run_process_chunk(run_id=run.id, start=0, end=population.size, reporter=reporter)
    run_finalize(run_id=run.id, reporter=reporter)
    run.refresh_from_db()
    return run


def _picks(run: Run) -> list[tuple[int, str]]:
    return list(
        Answer.objects.filter(run=run)
        .order_by("persona__index")
        .values_list("persona__index", "option__code")
    )


def test_the_poll_model_is_the_default_offline_backend(study, population):
    assert run_start(study=study, population=population).backend == "poll_model"


def test_answers_follow_the_population_spec_and_seeds_not_database_ids(study, reporter):
    # Two populations from the same spec and seed hold the same personas under other ids.
    first = population_create(size=120, areas=[AreaWeight(a) for a in DEMO_AREAS], seed=5)
    second = population_create(size=120, areas=[AreaWeight(a) for a in DEMO_AREAS], seed=5)
    assert _picks(_run(study, first, reporter)) == _picks(_run(study, second, reporter))
    assert _picks(_run(study, first, reporter)) != _picks(_run(study, first, reporter, seed=10))


def test_each_answer_is_drawn_from_the_personas_modelled_probabilities(study, population, reporter):
    run = _run(study, population, reporter)
    answer = Answer.objects.filter(run=run).select_related("persona__area").first()
    assert set(answer.probabilities) == {"support", "oppose"}
    assert sum(answer.probabilities.values()) == pytest.approx(1.0)
    assert "Modelled from 59,756 respondents of Cooperative Congressional Election Study" in (
        answer.reasoning
    )
    assert "latest election before 2018-01-01" in answer.reasoning
    assert answer.weight == 1.0
    # Over many personas the drawn shares agree with the mean probability.
    probabilities = [
        a.probabilities["support"] for a in Answer.objects.filter(run=run).only("probabilities")
    ]
    drawn = Answer.objects.filter(run=run, option__code="support").count() / len(probabilities)
    assert drawn == pytest.approx(np.mean(probabilities), abs=0.08)


def test_results_carry_a_model_estimate_with_intervals_from_the_model(study, population, reporter):
    run = _run(study, population, reporter)
    item = run.results["items"][0]
    model = item["model_estimate"]
    overall = {o["code"]: o for o in model["options"]}
    assert overall["support"]["share"] + overall["oppose"]["share"] == pytest.approx(1.0)
    for option in overall.values():
        assert option["ci_low"] < option["share"] < option["ci_high"]
    areas = model["breakdowns"]["area"]
    assert {a["category"] for a in areas} == set(DEMO_AREAS)
    # A smaller group has a wider interval.
    widths = {a["category"]: a["options"][0]["ci_high"] - a["options"][0]["ci_low"] for a in areas}
    sizes = {a["category"]: a["n"] for a in areas}
    assert widths[min(sizes, key=sizes.get)] > widths[max(sizes, key=sizes.get)]
    assert "Laplace approximation" in model["method"]
    assert model["describes"] == "all adults"


def test_a_foreign_poll_question_is_refused_unless_the_study_allows_it(population):
    question = Question.objects.create(
        poll=Poll.objects.create(
            slug="uk-poll",
            title="A British poll",
            pollster="t",
            population="GB adults",
            source="t",
            country="GB",
        ),
        code="q",
        text="Do you?",
    )
    Option.objects.create(question=question, code="yes", label="Yes")
    refused = study_create(
        title="UK", items=[ItemSpec(code="q", text="Do you?", poll_question_id=question.id)]
    )
    with pytest.raises(
        DomainError, match="a poll of country GB, and the personas are drawn from US"
    ):
        run_start(study=refused, population=population)
    allowed = study_create(
        title="UK",
        allow_foreign_polls=True,
        items=[ItemSpec(code="q", text="Do you?", poll_question_id=question.id)],
    )
    with pytest.raises(DomainError) as error:
        run_start(study=allowed, population=population)
    assert "country GB" not in str(error.value)  # refused only for having no answers


def _voters_poll() -> Question:
    """A poll whose question was asked of voters only: older respondents answer far more often."""
    rng = np.random.default_rng(7)
    poll = Poll.objects.create(
        slug="voters",
        title="Voters poll",
        pollster="t",
        population="US adults",
        source="t",
        year=2018,
    )
    question = Question.objects.create(
        poll=poll, code="vote", text="Whom will you vote for?", universe="likely voters"
    )
    a = Option.objects.create(question=question, code="a", label="A", order=0)
    b = Option.objects.create(question=question, code="b", label="B", order=1)
    states = ["TX", "MI", "MN", "AZ"]
    for i in range(1200):
        old = bool(rng.random() < 0.5)
        r = Respondent.objects.create(
            poll=poll,
            external_id=str(i),
            sex=rng.choice(["female", "male"]),
            age_min=60 if old else 20,
            age_max=60 if old else 20,
            state=states[i % 4],
        )
        if rng.random() < (0.9 if old else 0.3):
            choice = a if rng.random() < (0.7 if old else 0.3) else b
            Response.objects.create(respondent=r, question=question, option=choice)
    return question


def test_a_question_asked_of_part_of_the_sample_describes_that_universe(population, reporter):
    question = _voters_poll()
    study = study_create(
        title="Voters",
        items=[ItemSpec(code="vote", text=question.text, poll_question_id=question.id)],
    )
    run = _run(study, population, reporter)
    weights = dict(
        Answer.objects.filter(run=run)
        .values_list("persona__age", "weight")
        .order_by("persona__age")
    )
    young = [w for age, w in weights.items() if age < 30]
    old = [w for age, w in weights.items() if age >= 60]
    assert np.mean(young) < 0.5 < np.mean(old)
    item = run.results["items"][0]
    assert item["describes"].startswith("likely voters")
    assert item["model_estimate"]["describes"] == "likely voters"
    answer = Answer.objects.filter(run=run).first()
    assert "asked of likely voters" in answer.reasoning

    everyone = study_create(
        title="Voters, all adults",
        universe="all_adults",
        items=[ItemSpec(code="vote", text=question.text, poll_question_id=question.id)],
    )
    run = _run(everyone, population, reporter)
    assert set(Answer.objects.filter(run=run).values_list("weight", flat=True)) == {1.0}
    assert run.results["items"][0]["model_estimate"]["describes"] == "all adults"
    # Among voters (older, more for A) A does better than among all adults.
    share_voters = next(o["share"] for o in item["model_estimate"]["options"] if o["code"] == "a")
    share_all = next(
        o["share"] for o in run.results["items"][0]["model_estimate"]["options"] if o["code"] == "a"
    )
    assert share_voters > share_all


def _poll_in(states: list[str], slug: str) -> Question:
    rng = np.random.default_rng(11)
    poll = Poll.objects.create(
        slug=slug, title=slug, pollster="t", population="US adults", source="t", year=2018
    )
    question = Question.objects.create(poll=poll, code="q", text="Do you agree?")
    yes = Option.objects.create(question=question, code="yes", label="Yes", order=0)
    no = Option.objects.create(question=question, code="no", label="No", order=1)
    for i in range(400):
        r = Respondent.objects.create(
            poll=poll,
            external_id=str(i),
            sex=str(rng.choice(["female", "male"])),
            state=states[i % len(states)] if states else "",
        )
        Response.objects.create(respondent=r, question=question, option=yes if i % 3 else no)
    return question


@pytest.mark.parametrize(
    ("states", "label"),
    [
        (["TX", "MI"], "No respondent of the poll lives in"),
        ([], "The poll recorded no respondent's state: this is a national estimate."),
    ],
)
def test_an_area_the_poll_does_not_cover_is_labelled_not_silently_national(
    population, reporter, states, label
):
    question = _poll_in(states, slug=f"poll-{len(states)}")
    study = study_create(
        title="Coverage",
        items=[ItemSpec(code="q", text=question.text, poll_question_id=question.id)],
    )
    run = _run(study, population, reporter)
    covered = {"TX", "MI"} if states else set()
    for answer in Answer.objects.filter(run=run).select_related("persona__area")[:200]:
        if answer.persona.area.state in covered:
            assert label not in answer.reasoning
        else:
            assert label in answer.reasoning
