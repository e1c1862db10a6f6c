from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Token
from personas.services import AreaWeight, population_create
from studies.models import Answer, InfluenceSimulation, Run, Study
from studies.services import run_start

pytestmark = pytest.mark.django_db

SIMULATE = "/api/v1/multi-agent/simulate"


def _payload(question, **extra):
    return {
        "scenario_description": "City council vote on school funding",
        "poll_question": question.id,
        "seed": 7,
        **extra,
    }


@pytest.fixture
def other_api(django_user_model) -> APIClient:
    other = django_user_model.objects.create_user("other", password="another-long-password")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    return client


@pytest.fixture
def owned_population(user):
    population = population_create(
        size=120,
        areas=[AreaWeight("dallas_tx_city"), AreaWeight("detroit_mi_city")],
        seed=9,
        include_behavioral_characteristics=True,
    )
    population.created_by = user
    population.save(update_fields=["created_by"])
    return population


def test_a_simulation_is_accepted_then_reports_the_seed_shape_with_influence_off_and_on(
    api, cces_question, owned_population, run_on_commit
):
    started = run_on_commit(
        api.post,
        SIMULATE,
        _payload(
            cces_question,
            population=owned_population.id,
            environment_area_id="dallas_tx_city",
            group_size=20,
            mean_degree=4,
        ),
        format="json",
    )
    assert started.status_code == 202, started.json()
    body = started.json()
    result = api.get(body["url"]).json()
    assert result["status"] == "completed", result
    assert result["simulation_id"] == body["simulation_id"]
    in_area = owned_population.personas.filter(area_id="dallas_tx_city").count()
    assert result["personas_total"] == in_area
    dynamics = result["group_dynamics"]
    assert set(dynamics) >= {"group_diversity", "conformity_pressure", "social_influence_strength"}
    effects = result["peer_influence_effects"]
    assert effects["average_influence"] > 0
    assert "similarity_clustering" in effects
    assert 0 <= effects["answers_changed"] < 1
    off, on = result["comparison"]["influence_off"], result["comparison"]["influence_on"]
    assert [r["option"] for r in off] == [r["option"] for r in on] == ["support", "oppose"]
    assert {g["category"] for g in result["breakdowns"]["area"]} == {"dallas_tx_city"}
    assert result["network"]["groups"] == in_area // 20 + (in_area % 20 >= 2)
    assert "susceptibility" in result["assumptions"]
    responses = result["individual_responses"]
    assert responses["count"] == in_area
    first = responses["results"][0]
    assert set(first) >= {"persona_id", "probabilities_before", "probabilities_after", "answer"}
    assert {r["answer_after"] for r in responses["results"]} <= {"support", "oppose"}
    # The run behind it is an ordinary run of a multi-agent study, with its page and results.
    run = Run.objects.get(id=body["run"])
    assert run.study.kind == Study.Kind.MULTI_AGENT
    assert run.results["personas_answered"] == in_area


def test_with_peer_influence_off_the_answers_are_the_independent_runs(
    api, cces_question, owned_population, run_on_commit
):
    started = run_on_commit(
        api.post,
        SIMULATE,
        _payload(cces_question, population=owned_population.id, enable_peer_influence=False),
        format="json",
    )
    result = api.get(started.json()["url"] + "?limit=200").json()
    assert result["group_dynamics"] is None and result["comparison"]["influence_on"] is None
    # An ordinary independent run of the same question, population and seed.
    simulation = InfluenceSimulation.objects.get(id=result["simulation_id"])
    independent = run_on_commit(
        run_start,
        study=simulation.run.study,
        population=owned_population,
        seed=7,
        executor="inline",
    )
    stored = {
        a.persona_id: (a.option.code, a.probabilities)
        for a in Answer.objects.filter(run=independent).select_related("option")
    }
    responses = result["individual_responses"]["results"]
    assert len(responses) == len(stored) == owned_population.size
    for row in responses:
        answer, probabilities = stored[row["persona_id"]]
        assert row["answer"] == answer
        assert row["probabilities_before"] == pytest.approx(probabilities, abs=1e-6)
        assert row["probabilities_after"] is None


def test_named_personas_form_the_group(api, cces_question, owned_population, run_on_commit):
    ids = list(owned_population.personas.order_by("index").values_list("id", flat=True)[:12])
    started = run_on_commit(
        api.post, SIMULATE, _payload(cces_question, personas=ids), format="json"
    )
    assert started.status_code == 202, started.json()
    result = api.get(started.json()["url"]).json()
    assert result["status"] == "completed"
    assert sorted(r["persona_id"] for r in result["individual_responses"]["results"]) == ids


def test_a_group_of_one_is_refused_with_a_clear_message(api, cces_question, owned_population):
    one = owned_population.personas.first()
    response = api.post(SIMULATE, _payload(cces_question, personas=[one.id]), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "group_too_small"
    assert "at least two" in error["message"]
    assert not InfluenceSimulation.objects.exists()


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"environment_area_id": "atlantis"}, 400, "unknown_area"),
        ({"environment_area_id": "phoenix_az_city"}, 400, "area_not_in_population"),
        ({"group_size": 1}, 400, "invalid"),
        ({"homophily": {"shoe_size": 1.0}}, 400, "invalid"),
        ({"population": 999999}, 404, "not_found"),
    ],
)
def test_bad_input_is_a_json_error(api, cces_question, owned_population, extra, status, code):
    payload = {**_payload(cces_question, population=owned_population.id), **extra}
    response = api.post(SIMULATE, payload, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_starting_a_simulation_records_its_study_run_and_simulation_in_the_audit_log(
    api, user, cces_question, owned_population
):
    started = api.post(
        SIMULATE, _payload(cces_question, population=owned_population.id), format="json"
    )
    assert started.status_code == 202, started.json()
    simulation = InfluenceSimulation.objects.select_related("run").get(
        pk=started.json()["simulation_id"]
    )
    run = simulation.run
    events = AuditEvent.objects.order_by("id")
    # The population existed before: only what the request created or started is recorded.
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("create", "studies.study", str(run.study_id)),
        ("start", "studies.run", str(run.id)),
        ("create", "studies.influencesimulation", str(simulation.id)),
    ]
    assert all(
        (e.actor, e.owner, e.via, e.ip_address) == (user, user, "api", "127.0.0.1") for e in events
    )
    assert events[1].detail == {
        "backend": "poll_model",
        "study": run.study_id,
        "population": owned_population.id,
    }
    assert events[2].detail == {"run": run.id}


def test_an_unknown_question_is_refused(api, owned_population):
    response = api.post(
        SIMULATE,
        {"scenario_description": "x", "poll_question": 999999, "population": owned_population.id},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_poll_question"


def test_another_user_can_neither_read_a_simulation_nor_simulate_over_the_population(
    api, other_api, cces_question, owned_population, run_on_commit
):
    started = run_on_commit(
        api.post, SIMULATE, _payload(cces_question, population=owned_population.id), format="json"
    )
    url = started.json()["url"]
    assert api.get(url).status_code == 200
    assert other_api.get(url).status_code == 404
    over_population = other_api.post(
        SIMULATE, _payload(cces_question, population=owned_population.id), format="json"
    )
    assert over_population.status_code == 404
    ids = list(owned_population.personas.values_list("id", flat=True)[:5])
    over_personas = other_api.post(SIMULATE, _payload(cces_question, personas=ids), format="json")
    assert over_personas.status_code == 404
