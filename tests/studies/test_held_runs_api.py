"""Held runs over the API (/api/v1/held-runs/): a client holds a run on a population still being
built and the build starts it; lists, reads, starts now, cancels and retries its own."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from accounts.services import api_key_create
from personas.build import population_fail
from personas.models import Population
from personas.services import AreaWeight, population_create
from personas.tasks import population_build_task
from studies.models import HeldRun, Run
from studies.services import ItemSpec, study_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/held-runs/"


def _population(user, *, ready: bool) -> Population:
    return population_create(
        size=30, areas=[AreaWeight("dallas_tx_city")], created_by=user, seed=5, defer=not ready
    )


@pytest.fixture
def queued(user) -> Population:
    """Stored queued, its build not run yet (as the API leaves a large one)."""
    return _population(user, ready=False)


def _hold(api, study, population, **extra):
    body = {"study": study.pk, "population": population.pk, "backend": "poll_model", **extra}
    return api.post(URL, body, format="json")


def _build(population, capture, *, start_held: bool = True) -> None:
    """The build task; with `start_held` False its process stops before the after-commit start
    of the held runs."""
    with capture(execute=start_held):
        assert population_build_task(population.pk) == "ready"


def _short_study(user, cces_question):
    """A study whose quotas 30 personas cannot fill: refused when its run starts."""
    item = ItemSpec(code="coverage", text=cces_question.text, poll_question_id=cces_question.id)
    return study_create(
        title="Short", items=[item], created_by=user, quotas={"sex": {"female": 40}}
    )


# --- holding ------------------------------------------------------------------------------------


def test_a_client_holds_a_run_on_a_population_being_built_and_the_build_starts_it(
    api, user, study, queued, django_capture_on_commit_callbacks
):
    response = _hold(api, study, queued, budget=5, seed=11, chunk_size=10)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert response["Location"] == f"{URL}{body['id']}/"
    assert (body["status"], body["run"], body["seed"], body["budget"]) == ("held", None, 11, 5.0)
    assert body["page_url"] == f"/populations/{queued.pk}/#held-run-{body['id']}"
    assert not Run.objects.exists()
    created = AuditEvent.objects.get(action="create", object_type="studies.heldrun")
    assert (created.actor, created.via, created.object_id) == (user, "api", str(body["id"]))

    _build(queued, django_capture_on_commit_callbacks)
    detail = api.get(response["Location"]).json()
    run = Run.objects.get()
    assert detail["status"] == "started" and detail["run"] == run.id and detail["settled_at"]
    assert (run.study_id, run.population_id, run.seed, run.chunk_size) == (
        study.pk, queued.pk, 11, 10
    )  # fmt: skip
    assert str(run.budget) == "5.0000" and run.status == "completed"


def test_holding_on_a_population_already_ready_starts_the_run_at_once(
    api, user, study, django_capture_on_commit_callbacks
):
    ready = _population(user, ready=True)
    with django_capture_on_commit_callbacks(execute=True):  # the run's dispatch
        response = _hold(api, study, ready)
    assert response.status_code == 202, response.json()
    run = Run.objects.get()
    assert response.json()["status"] == "started" and response.json()["run"] == run.id
    assert run.created_by == user and run.status == "completed" and run.personas_done == 30
    start = AuditEvent.objects.get(action="start")
    assert start.via == "api" and start.detail["held_run"] == response.json()["id"]


def test_a_start_refused_on_a_ready_population_is_answered_and_nothing_is_held(
    api, user, cces_question
):
    ready = _population(user, ready=True)
    response = _hold(api, _short_study(user, cces_question), ready)
    assert response.status_code == 400
    assert "female" in response.json()["error"]["message"]
    assert not HeldRun.objects.exists() and not Run.objects.exists()
    assert not AuditEvent.objects.filter(object_type="studies.heldrun").exists()


def test_the_daily_quota_is_checked_once_a_hold_whichever_the_population(
    api, user, study, queued, settings, monkeypatch
):
    from studies.services import held_runs

    counted = []
    check = held_runs.daily_quota_check
    monkeypatch.setattr(
        held_runs, "daily_quota_check", lambda **kw: counted.append(kw) or check(**kw)
    )
    assert _hold(api, study, queued).status_code == 202  # checked at the hold
    assert _hold(api, study, _population(user, ready=True)).status_code == 202  # at the start
    assert [kw["runs"] for kw in counted] == [1, 1]
    settings.QUOTA_RUNS_PER_DAY = 1  # the run just started used the day's quota up
    refused = _hold(api, study, _population(user, ready=True))
    assert refused.status_code == 429 and "quota is 1 a day" in refused.json()["error"]["message"]
    assert len(counted) == 3 and HeldRun.objects.count() == 2 and Run.objects.count() == 1


def test_holding_on_a_failed_population_is_a_409_saying_to_create_it_again(api, study, queued):
    population_fail(population_id=queued.pk, message="the disk was full")
    response = _hold(api, study, queued)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "population_failed" and "Create it again" in error["message"]
    assert not HeldRun.objects.exists()


def test_what_the_backend_refuses_is_refused_when_held_with_nothing_stored(
    api, study, queued, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY_FILE", raising=False)
    llm = {"llm": {"provider": "openai", "model": "gpt-test"}}
    response = _hold(api, study, queued, backend="llm", backend_config=llm)
    assert response.status_code == 400
    assert "No API key for openai" in response.json()["error"]["message"]
    zero = _hold(api, study, queued, budget=0)
    assert zero.status_code == 400 and "budget" in zero.json()["error"]["fields"]
    assert not HeldRun.objects.exists()


def test_a_run_refused_because_the_population_is_building_points_to_holding_it(api, study, queued):
    body = {"study": study.pk, "population": queued.pk}
    response = api.post("/api/v1/runs/", body, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "population_not_ready"
    assert error["message"].endswith("POST the same body to /api/v1/held-runs/.")


def test_a_read_key_lists_held_runs_but_cannot_hold_start_cancel_or_retry(api, user, study, queued):
    held_id = _hold(api, study, queued).json()["id"]
    _, secret = api_key_create(user=user, name="dashboard", scope="read")
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert [h["id"] for h in reader.get(URL).json()["results"]] == [held_id]
    assert reader.get(f"{URL}{held_id}/").status_code == 200
    assert _hold(reader, study, queued).status_code == 403
    for action in ("start", "cancel", "retry"):
        response = reader.post(f"{URL}{held_id}/{action}/")
        assert response.status_code == 403, action
        assert "read scope" in response.json()["error"]["message"]
    assert HeldRun.objects.get().status == "held"


# --- the list -----------------------------------------------------------------------------------


def test_the_list_filters_by_status_and_population_and_refuses_bad_filters(
    api, user, study, queued
):
    other = _population(user, ready=False)
    first = _hold(api, study, queued).json()["id"]
    second = _hold(api, study, other).json()["id"]
    HeldRun.objects.filter(pk=second).update(status="failed", error_message="x")
    assert [h["id"] for h in api.get(URL).json()["results"]] == [second, first]
    by_population = api.get(URL, {"population": queued.pk}).json()["results"]
    assert [h["id"] for h in by_population] == [first]
    assert [h["id"] for h in api.get(URL, {"status": "failed"}).json()["results"]] == [second]
    bad_filters = (
        {"status": "waiting"},
        {"status": ""},
        {"population": "abc"},
        {"population": str(2**63)},  # the fuzz test's find: overflowed SQLite's integer (500)
    )
    for bad in bad_filters:
        response = api.get(URL, bad)
        assert response.status_code == 400, bad
        assert set(response.json()["error"]["fields"]) == set(bad), bad


# --- start now ----------------------------------------------------------------------------------


def test_start_now_is_refused_while_the_population_builds(api, study, queued):
    held_id = _hold(api, study, queued).json()["id"]
    response = api.post(f"{URL}{held_id}/start/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "population_not_ready"
    assert HeldRun.objects.get().status == "held" and not Run.objects.exists()


def test_start_now_starts_a_run_left_waiting_once_however_often_asked(
    api, user, study, queued, django_capture_on_commit_callbacks
):
    held_id = _hold(api, study, queued).json()["id"]
    _build(queued, django_capture_on_commit_callbacks, start_held=False)
    assert HeldRun.objects.get().status == "held"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{URL}{held_id}/start/")
    assert response.status_code == 200, response.json()
    run = Run.objects.get()
    assert response.json()["status"] == "started" and response.json()["run"] == run.id
    assert run.status == "completed"
    again = api.post(f"{URL}{held_id}/start/")
    assert again.status_code == 200 and again.json()["run"] == run.id
    assert Run.objects.count() == 1
    start = AuditEvent.objects.get(action="start")
    assert (start.actor, start.via, start.detail["held_run"]) == (user, "api", held_id)


def test_a_start_now_refused_fails_the_held_run_with_the_refusal(
    api, user, cces_question, queued, django_capture_on_commit_callbacks
):
    held_id = _hold(api, _short_study(user, cces_question), queued).json()["id"]
    _build(queued, django_capture_on_commit_callbacks, start_held=False)
    response = api.post(f"{URL}{held_id}/start/")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "female" in message
    detail = api.get(f"{URL}{held_id}/").json()
    assert detail["status"] == "failed" and detail["error_message"] == message
    again = api.post(f"{URL}{held_id}/start/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "held_run_failed"
    assert f"/api/v1/held-runs/{held_id}/retry/" in again.json()["error"]["message"]
    assert not Run.objects.exists()


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_drops_a_waiting_held_run_and_the_build_starts_nothing(
    api, user, study, queued, django_capture_on_commit_callbacks
):
    held_id = _hold(api, study, queued).json()["id"]
    response = api.post(f"{URL}{held_id}/cancel/")
    assert response.status_code == 204 and not HeldRun.objects.exists()
    cancel = AuditEvent.objects.get(action="cancel")
    assert (cancel.actor, cancel.via, cancel.object_id) == (user, "api", str(held_id))
    assert api.post(f"{URL}{held_id}/cancel/").status_code == 404
    _build(queued, django_capture_on_commit_callbacks)
    assert not Run.objects.exists()


def test_a_started_held_run_is_not_cancelled_as_held(
    api, study, queued, django_capture_on_commit_callbacks
):
    held_id = _hold(api, study, queued).json()["id"]
    _build(queued, django_capture_on_commit_callbacks)
    response = api.post(f"{URL}{held_id}/cancel/")
    assert response.status_code == 409
    assert "cancel the run from its page" in response.json()["error"]["message"]
    assert HeldRun.objects.get().status == "started"


# --- retry --------------------------------------------------------------------------------------


def test_retry_starts_a_run_the_daily_quota_refused_once_the_quota_allows_it(
    api, user, study, queued, settings, django_capture_on_commit_callbacks
):
    settings.QUOTA_RUNS_PER_DAY = 1
    held_id = _hold(api, study, queued).json()["id"]
    # Another run of the user's, started while this one waited, used the day's quota up.
    ready = _population(user, ready=True)
    assert api.post("/api/v1/runs/", {"study": study.pk, "population": ready.pk}).status_code == 201
    _build(queued, django_capture_on_commit_callbacks)
    failed = api.get(f"{URL}{held_id}/").json()
    assert failed["status"] == "failed" and "quota is 1 a day" in failed["error_message"]

    refused = api.post(f"{URL}{held_id}/retry/")  # the quota still says no
    assert refused.status_code == 429 and "quota is 1 a day" in refused.json()["error"]["message"]
    assert api.get(f"{URL}{held_id}/").json()["status"] == "failed"

    settings.QUOTA_RUNS_PER_DAY = 2
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{URL}{held_id}/retry/")
    assert response.status_code == 200, response.json()
    body = response.json()
    run = Run.objects.get(pk=body["run"])
    assert body["status"] == "started" and body["error_message"] == ""
    assert run.population_id == queued.pk and run.status == "completed"
    retries = AuditEvent.objects.filter(action="retry").order_by("id")
    assert [(e.detail["outcome"], e.via, e.actor) for e in retries] == [
        ("failed", "api", user), ("started", "api", user)
    ]  # fmt: skip
    assert retries[1].detail["run"] == run.id


def test_retry_on_a_failed_population_is_a_409_saying_to_create_a_new_one(api, study, queued):
    held_id = _hold(api, study, queued).json()["id"]
    population_fail(population_id=queued.pk, message="the disk was full")
    response = api.post(f"{URL}{held_id}/retry/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "population_failed"
    assert "the disk was full" in error["message"]
    assert "Create a new population" in error["message"]
    assert HeldRun.objects.get().status == "failed" and not Run.objects.exists()


def test_retry_holds_the_run_again_while_its_population_is_still_building(
    api, study, queued, django_capture_on_commit_callbacks
):
    held_id = _hold(api, study, queued).json()["id"]
    # Failed while the population builds (an internal error, a fix by the operator since).
    HeldRun.objects.filter(pk=held_id).update(status="failed", error_message="it broke")
    response = api.post(f"{URL}{held_id}/retry/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["error_message"]) == ("held", "")
    assert not Run.objects.exists()
    _build(queued, django_capture_on_commit_callbacks)
    assert api.get(f"{URL}{held_id}/").json()["status"] == "started"


def test_only_a_failed_held_run_is_retried(api, study, queued):
    held_id = _hold(api, study, queued).json()["id"]
    response = api.post(f"{URL}{held_id}/retry/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "held_run_not_failed"
    assert "it is waiting for the population" in response.json()["error"]["message"]
