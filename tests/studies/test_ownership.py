"""Each client sees only its own work: user B gets 404 on every one of user A's objects, through
every object endpoint and page (the socket is in test_consumer); staff see all."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from studies.models import RunPersona
from studies.pipeline import run_finalize, run_process_chunk
from studies.services import run_start
from studies.services.held_runs import held_run_create
from validation.models import ValidationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned(user, study, population, cces_question, reporter):
    """User A's population, study, finished run (with per-persona records), a run held on the
    population and a validation run."""
    run = run_start(
        study=study, population=population, seed=2, backend="poll_cell", created_by=user
    )
    run_process_chunk(run_id=run.id, start=0, end=run.personas_total, reporter=reporter)
    run = run_finalize(run_id=run.id, reporter=reporter)
    persona_id = RunPersona.objects.filter(run=run).values_list("persona_id", flat=True)[0]
    validation = ValidationRun.objects.create(
        question=cces_question, seed=1, created_by=user, metrics={}
    )
    held = held_run_create(
        study=study,
        population=population,
        backend="poll_cell",
        backend_config={},
        budget=None,
        created_by=user,
    )
    return {
        "population": population.id,
        "study": study.id,
        "run": run.id,
        "held_run": held.id,
        "persona": persona_id,
        "validation": validation.id,
    }


def _client(django_user_model, name: str, *, staff: bool = False) -> APIClient:
    other = django_user_model.objects.create_user(
        name, password="a-long-test-password", is_staff=staff
    )
    client = APIClient()
    client.force_authenticate(other)
    client.force_login(other)  # the pages use the session
    return client


def _reads(o: dict) -> list[str]:
    run, persona, population = o["run"], o["persona"], o["population"]
    return [
        f"/api/v1/populations/{population}/",
        f"/api/v1/populations/{population}/personas/",
        f"/api/v1/populations/{population}/export/",
        f"/api/v1/personas/{persona}/",
        f"/api/v1/studies/{o['study']}/",
        f"/api/v1/runs/{run}/",
        f"/api/v1/runs/{run}/results/",
        f"/api/v1/runs/{run}/personas/",
        f"/api/v1/runs/{run}/personas/{persona}/",
        f"/api/v1/runs/{run}/personas/{persona}/export/",
        f"/api/v1/runs/{run}/export/",
        f"/api/v1/runs/{run}/answers.csv",
        f"/api/v1/runs/{run}/answers/?format=parquet",
        f"/api/v1/runs/{run}/results/?format=csv",
        f"/api/v1/populations/{population}/export/?format=parquet",
        f"/api/v1/validation/runs/{o['validation']}/",
        f"/api/v1/held-runs/{o['held_run']}/",
        f"/runs/{run}/",
    ]


def _actions(o: dict) -> list[str]:
    """The object endpoints that change something (POST)."""
    held = o["held_run"]
    return [
        f"/api/v1/runs/{o['run']}/cancel/",
        f"/api/v1/held-runs/{held}/cancel/",
        f"/api/v1/held-runs/{held}/start/",
        f"/api/v1/held-runs/{held}/retry/",
    ]


def test_another_user_gets_404_on_every_object_endpoint(owned, django_user_model):
    stranger = _client(django_user_model, "stranger")
    for url in _reads(owned):
        response = stranger.get(url)
        assert response.status_code == 404, url
    for url in _actions(owned):
        assert stranger.post(url).status_code == 404, url


def test_the_owner_and_staff_read_the_same_endpoints(owned, api, user, django_user_model):
    api.force_login(user)  # the pages use the session
    staff = _client(django_user_model, "operator", staff=True)
    for url in _reads(owned):
        assert api.get(url).status_code == 200, url
        assert staff.get(url).status_code == 200, url


def test_lists_hold_only_the_callers_own_work(owned, api, django_user_model):
    stranger = _client(django_user_model, "stranger")
    lists = {
        "/api/v1/populations/": owned["population"],
        "/api/v1/studies/": owned["study"],
        "/api/v1/runs/": owned["run"],
        "/api/v1/held-runs/": owned["held_run"],
        "/api/v1/validation/runs/": owned["validation"],
    }
    for url, own_id in lists.items():
        assert [r["id"] for r in api.get(url).json()["results"]] == [own_id], url
        assert stranger.get(url).json()["results"] == [], url
    # The home page lists recent runs: the stranger's lists none of A's.
    page = stranger.get("/").content.decode()
    assert f"/runs/{owned['run']}/" not in page


def test_a_platform_validation_run_is_shared(cces_question, django_user_model):
    """Runs with no owner are the platform's scheduled accuracy measurements: everyone reads them."""
    platform = ValidationRun.objects.create(question=cces_question, seed=1, metrics={})
    stranger = _client(django_user_model, "stranger")
    assert stranger.get(f"/api/v1/validation/runs/{platform.id}/").status_code == 200


@pytest.mark.parametrize("endpoint", ["/api/v1/runs/", "/api/v1/runs/estimate/"])
def test_nobody_runs_or_prices_another_users_study_or_population(
    owned, endpoint, django_user_model
):
    stranger = _client(django_user_model, "stranger")
    body = {"study": owned["study"], "population": owned["population"], "backend": "poll_cell"}
    response = stranger.post(endpoint, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_study"
    assert error["message"] == f"Study {owned['study']} does not exist."


def test_a_stranger_cannot_cancel_and_the_run_is_untouched(owned, django_user_model):
    from studies.models import HeldRun, Run

    before = Run.objects.get(id=owned["run"]).status
    stranger = _client(django_user_model, "stranger")
    for url in _actions(owned):
        stranger.post(url)
    assert Run.objects.get(id=owned["run"]).status == before
    assert HeldRun.objects.get(id=owned["held_run"]).status == "held"
    assert Run.objects.count() == 1  # the held run was not started by the stranger


@pytest.fixture
def strangers_own(django_user_model, cces_question):
    """A stranger's client with a study and a ready population of their own, so each request
    below names one foreign object and one the stranger may use."""
    from personas.services import AreaWeight, population_create
    from studies.services import ItemSpec, study_create

    client = _client(django_user_model, "stranger")
    stranger = django_user_model.objects.get(username="stranger")
    population = population_create(
        size=5, areas=[AreaWeight("phoenix_az_city")], seed=1, created_by=stranger
    )
    study = study_create(
        created_by=stranger,
        title="Stranger's own",
        items=[ItemSpec(code="q", text=cces_question.text, poll_question_id=cces_question.id)],
    )
    return client, {"study": study.id, "population": population.id}


def _nothing_stored_by(username: str, before: dict[str, int]) -> None:
    from accounts.models import AuditEvent
    from studies.models import HeldRun, Run

    assert {"runs": Run.objects.count(), "held_runs": HeldRun.objects.count()} == before
    assert not AuditEvent.objects.filter(actor_name=username).exists()


@pytest.mark.parametrize(
    ("foreign", "code"), [("study", "unknown_study"), ("population", "unknown_population")]
)
def test_nobody_holds_a_run_on_another_users_study_or_population(
    owned, strangers_own, foreign, code
):
    from studies.models import HeldRun, Run

    client, theirs = strangers_own
    before = {"runs": Run.objects.count(), "held_runs": HeldRun.objects.count()}
    body = theirs | {foreign: owned[foreign], "backend": "poll_cell"}
    response = client.post("/api/v1/held-runs/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["fields"] == {foreign: ["not found"]}
    assert error["message"] == f"{foreign.title()} {owned[foreign]} does not exist."
    _nothing_stored_by("stranger", before)


def test_the_study_page_does_not_run_another_users_study(owned, strangers_own):
    from studies.models import HeldRun, Run

    client, theirs = strangers_own
    before = {"runs": Run.objects.count(), "held_runs": HeldRun.objects.count()}
    response = client.post(
        f"/studies/{owned['study']}/run/",
        {"population": theirs["population"], "backend": "poll_cell"},
    )
    assert response.status_code == 404
    _nothing_stored_by("stranger", before)
    # The same form on the stranger's own study starts a run: the 404 is the ownership check.
    response = client.post(
        f"/studies/{theirs['study']}/run/",
        {"population": theirs["population"], "backend": "poll_cell"},
    )
    assert response.status_code == 302
    assert Run.objects.filter(study_id=theirs["study"], created_by__username="stranger").exists()
