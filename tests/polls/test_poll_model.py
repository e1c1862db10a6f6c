"""The poll model: its fit, its store, its no-future rule and its refusals."""

from __future__ import annotations

import pickle
from datetime import date

import numpy as np
import pandas as pd
import pytest

from polls.model.area import poll_cutoff, prior_vote_predictor, state_regions
from polls.model.features import Spec, design, measured_spec
from polls.model.fit import fit_penalised
from polls.model.store import poll_model_get
from polls.model.training import ModelDataError, fit_question
from polls.models import Option, Poll, PollModelFit, Question, Respondent, Response

pytestmark = pytest.mark.django_db


def _synthetic(n: int, seed: int) -> pd.DataFrame:
    """Respondents whose answer depends on sex and state, known effects."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    state = rng.choice(["TX", "MI", "MN", "AZ"], n)
    logit = -0.3 + 1.2 * (sex == "male") + 0.8 * (state == "TX") - 0.8 * (state == "MN")
    answer = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "respondent_id": np.arange(n),
            "option_id": np.where(answer, 2, 1),
            "sex": sex,
            "race_ethnicity": "",
            "education": "",
            "income": "",
            "state": state,
            "age_min": -1,
            "age_max": -1,
        }
    )


def _spec(frame: pd.DataFrame) -> Spec:
    regions = state_regions()
    return measured_spec(frame, states=sorted(regions), regions=regions)


def test_fit_recovers_the_direction_and_size_of_known_effects():
    frame = _synthetic(20_000, seed=1)
    spec = _spec(frame)
    y = (frame["option_id"] == 2).astype(int).to_numpy()
    fit = fit_penalised(design(frame, spec), y, 2)
    profiles = pd.DataFrame(
        {
            "sex": ["female", "male", "female"],
            "state": ["AZ", "AZ", "TX"],
            "race_ethnicity": "",
            "education": "",
            "income": "",
            "age_min": -1,
            "age_max": -1,
        }
    )
    p = fit.predict(design(profiles, spec))[:, 1]
    expected = 1 / (1 + np.exp(-np.array([-0.3, 0.9, 0.5])))
    # Partial pooling shrinks the state effects a little; the sex effect is nearly unpenalised.
    assert np.abs(p - expected).max() < 0.05
    assert p[1] > p[0] and p[2] > p[0]


def test_a_fit_on_counted_profiles_equals_the_fit_on_every_respondent():
    frame = _synthetic(3_000, seed=2)
    spec = _spec(frame)
    y = (frame["option_id"] == 2).astype(int).to_numpy()
    every = fit_penalised(design(frame, spec), y, 2)
    grouped = frame.groupby(["option_id", "sex", "state"]).size().reset_index(name="count")
    for column in ("race_ethnicity", "education", "income"):
        grouped[column] = ""
    grouped["age_min"] = grouped["age_max"] = -1
    counted = fit_penalised(
        design(grouped, spec),
        (grouped["option_id"] == 2).astype(int).to_numpy(),
        2,
        grouped["count"].to_numpy(),
    )
    assert np.allclose(every.coef, counted.coef, atol=1e-5)
    assert every.log_evidence == pytest.approx(counted.log_evidence, abs=1e-4)


def test_posterior_draws_center_on_the_mode_and_widen_with_less_data():
    spec = _spec(_synthetic(10, seed=0))
    profile = pd.DataFrame(
        {
            "sex": ["male"],
            "state": ["TX"],
            "race_ethnicity": "",
            "education": "",
            "income": "",
            "age_min": -1,
            "age_max": -1,
        }
    )
    widths = []
    for n in (500, 20_000):
        frame = _synthetic(n, seed=3)
        fit = fit_penalised(
            design(frame, spec), (frame["option_id"] == 2).astype(int).to_numpy(), 2
        )
        draws = fit.draws(design(profile, spec), count=2000, seed=1)[:, 0, 1]
        assert draws.mean() == pytest.approx(fit.predict(design(profile, spec))[0, 1], abs=0.02)
        widths.append(np.quantile(draws, 0.975) - np.quantile(draws, 0.025))
    assert widths[0] > 3 * widths[1]


def test_a_multi_code_category_is_split_between_its_codes():
    frame = pd.DataFrame(
        {
            "sex": ["male", "female"],
            "race_ethnicity": ["asian|other", "white"],
            "education": "",
            "income": "",
            "state": "TX",
            "age_min": [18, 30],
            "age_max": [29, 39],
        }
    )
    spec = measured_spec(frame, states=["TX"], regions={"TX": "South"})
    names = spec.column_names()
    X = design(frame, spec)
    row = dict(zip(names, X[0], strict=True))
    assert row["race_ethnicity=asian"] == row["race_ethnicity=other"] > 0
    # Brackets only: the poll's own age levels are the model's.
    assert spec.levels["age"] == ["18-29", "30-39"]


def _poll(slug: str, **fields) -> Poll:
    return Poll.objects.create(
        slug=slug, title=slug, pollster="test", population="US adults", source="test", **fields
    )


@pytest.mark.parametrize(
    ("fields", "cutoff"),
    [
        ({"field_end": date(2016, 11, 9)}, date(2016, 11, 9)),
        ({"year": 2016}, date(2016, 1, 1)),
        ({}, None),
    ],
)
def test_a_poll_is_cut_off_at_its_fieldwork_end_or_the_start_of_its_year(fields, cutoff):
    assert poll_cutoff(_poll("cut", **fields)) == cutoff


def test_no_election_on_or_after_the_cutoff_enters_the_model():
    states = sorted(state_regions())
    # The day after the 2016 election knows it; election day itself does not.
    after = prior_vote_predictor(date(2016, 11, 9), states)
    on_the_day = prior_vote_predictor(date(2016, 11, 8), states)
    assert after["years"] == [2016]
    assert on_the_day is None or max(on_the_day["years"]) < 2016
    assert prior_vote_predictor(None, states) is None


def test_the_stored_fit_is_reused_not_refitted(cces_question, monkeypatch):
    first = poll_model_get(cces_question)
    assert PollModelFit.objects.filter(question=cces_question).count() == 1

    def refit(*args, **kwargs):
        raise AssertionError("the stored fit should have been reused")

    monkeypatch.setattr("polls.model.store.fit_question", refit)
    again = poll_model_get(cces_question)
    assert np.allclose(again.fit.coef, first.fit.coef)
    assert again.spec == first.spec
    assert again.spec.area_predictors["prior_presidential_vote"]["years"] == [2016]


def _question_with(respondents: list[dict], answers: list[str]) -> Question:
    poll = _poll("tiny", year=2018)
    question = Question.objects.create(poll=poll, code="q", text="Do you?")
    yes = Option.objects.create(question=question, code="yes", label="Yes", order=0)
    no = Option.objects.create(question=question, code="no", label="No", order=1)
    for i, (profile, answer) in enumerate(zip(respondents, answers, strict=True)):
        r = Respondent.objects.create(poll=poll, external_id=str(i), **profile)
        Response.objects.create(respondent=r, question=question, option=yes if answer else no)
    return question


def test_too_few_respondents_are_refused_with_the_number_needed():
    question = _question_with([{"sex": "male"}, {"sex": "female"}] * 10, [True, False] * 10)
    with pytest.raises(
        ModelDataError, match="20 respondents answered; the poll model needs at least 100"
    ):
        fit_question(question)


def test_a_poll_without_demographics_is_refused_by_name():
    question = _question_with([{"state": "TX"}] * 150, [True, False, False] * 50)
    with pytest.raises(ModelDataError, match="poll 'tiny' recorded none of sex"):
        fit_question(question)


def test_area_estimates_poststratify_the_census_table_with_model_intervals(api, cces_question):
    response = api.get(
        f"/api/v1/polls/questions/{cces_question.id}/estimates/",
        {"areas": "dallas_tx_city,minneapolis_mn_city"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [e["area"] for e in body["estimates"]] == ["dallas_tx_city", "minneapolis_mn_city"]
    for estimate in body["estimates"]:
        shares = [o["share"] for o in estimate["options"]]
        assert sum(shares) == pytest.approx(1.0)
        for o in estimate["options"]:
            assert o["ci_low"] < o["share"] < o["ci_high"]
    assert "prior_presidential_vote" in body["model"]["area_predictors"]
    assert body["simulated"] is False


@pytest.mark.parametrize(
    ("areas", "message"),
    [
        ("nowhere_xx_city", "Unknown area ids: nowhere_xx_city"),
        ("wayne_mi_county", "no census joint table to poststratify"),
    ],
)
def test_area_estimates_refuse_areas_that_cannot_be_poststratified(
    api, cces_question, areas, message
):
    response = api.get(f"/api/v1/polls/questions/{cces_question.id}/estimates/", {"areas": areas})
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_a_fit_in_memory_serves_later_chunks_until_the_answers_change(cces_question, monkeypatch):
    first = poll_model_get(cces_question)

    def read_again(*args, **kwargs):
        raise AssertionError("the question's respondents were read again")

    monkeypatch.setattr("polls.model.store.question_frame", read_again)
    assert poll_model_get(cces_question) is first
    newcomer = Respondent.objects.create(poll=cces_question.poll, external_id="late", sex="male")
    Response.objects.create(
        respondent=newcomer, question=cces_question, option=cces_question.options.first()
    )
    with pytest.raises(AssertionError, match="read again"):
        poll_model_get(cces_question)


def test_group_estimates_equal_the_mean_of_each_personas_own_probabilities(cces_question):
    from polls.model.intervals import group_estimates

    fitted = poll_model_get(cces_question)
    rng = np.random.default_rng(4)
    n = 300
    ages = rng.integers(18, 91, n)
    personas = pd.DataFrame(
        {
            "sex": rng.choice(["female", "male"], n),
            "race_ethnicity": rng.choice(["white", "black", "hispanic", "asian"], n),
            "education": rng.choice(["hs", "bachelors", "graduate"], n),
            "income": rng.choice(["lt_25k", "150k_plus"], n),
            "state": rng.choice(["TX", "MN"], n),
            "age_min": ages,
            "age_max": ages,
        }
    )
    own = fitted.fit.predict(design(personas, fitted.spec))
    estimates = group_estimates(fitted, personas, dimensions=["state"], draws=50)
    assert estimates["all"][0]["shares"] == pytest.approx(own.mean(axis=0))
    for group in estimates["state"]:
        members = (personas["state"] == group["category"]).to_numpy()
        assert group["shares"] == pytest.approx(own[members].mean(axis=0))
        assert np.all(group["low"] <= group["shares"]) and np.all(group["shares"] <= group["high"])


def test_group_estimates_from_the_callers_codes_equal_its_own(cces_question):
    """A caller's codes (here sorted, as option tables number categories) give the same groups,
    in order of first appearance, and the same bootstrap draws."""
    from polls.model.intervals import group_estimates

    fitted = poll_model_get(cces_question)
    rng = np.random.default_rng(6)
    n = 400
    ages = rng.integers(18, 91, n)
    personas = pd.DataFrame(
        {
            "sex": rng.choice(["male", "female"], n),
            "race_ethnicity": rng.choice(["white", "black", "hispanic"], n),
            "education": rng.choice(["hs", "graduate"], n),
            "income": rng.choice(["lt_25k", "150k_plus"], n),
            "state": rng.choice(["TX", "MN", "AZ"], n),
            "age_min": ages,
            "age_max": ages,
        }
    )
    dimensions = ["state", "education"]
    sorted_codes = {d: pd.factorize(personas[d], sort=True) for d in dimensions}
    assert [*sorted_codes["state"][1]] == ["AZ", "MN", "TX"] != [*pd.unique(personas["state"])]
    own = group_estimates(fitted, personas, dimensions=dimensions, draws=40, seed=3)
    given = group_estimates(
        fitted,
        personas,
        dimensions=dimensions,
        draws=40,
        seed=3,
        factorized={d: (codes, list(values)) for d, (codes, values) in sorted_codes.items()},
    )
    assert [g["category"] for g in given["state"]] == [*pd.unique(personas["state"])]
    assert pickle.dumps(given) == pickle.dumps(own)
