"""A population larger than POPULATION_INLINE_MAX is built off the request: the API answers 202
with the queued row, a task (a thread in the embedded setup) builds it, and nothing uses it until
it is ready."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import CommandError, call_command

from personas.models import Persona, Population
from personas.services import AreaWeight, population_create
from personas.tasks import population_build_task
from studies.services import ItemSpec, study_create

pytestmark = pytest.mark.django_db

AREAS = [{"area": "dallas_tx_city"}, {"area": "detroit_mi_city"}]
PERSONA_COLUMNS = (
    "index", "area_id", "age", "age_bracket", "sex", "race_ethnicity", "education", "income",
    "name", "profile",
)  # fmt: skip


@pytest.fixture
def small_inline_max(settings):
    settings.POPULATION_INLINE_MAX = 50


def _post(api, size: int, seed: int = 7, **extra):
    body = {"size": size, "seed": seed, "areas": AREAS, **extra}
    return api.post("/api/v1/populations/", body, format="json")


def _queued(api, django_capture_on_commit_callbacks, size: int = 60, **extra) -> Population:
    """A population the API has accepted (202) and whose build has not run yet."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(api, size, **extra)
    assert response.status_code == 202, response.json()
    assert len(callbacks) == 1  # the build is dispatched once the row is committed
    return Population.objects.get(pk=response.json()["id"])


def _personas(population: Population) -> list[tuple]:
    return list(population.personas.order_by("index").values_list(*PERSONA_COLUMNS))


def test_above_the_inline_maximum_the_api_answers_202_with_a_queued_population(
    api, small_inline_max, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = _post(api, 60)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert response["Location"] == f"/api/v1/populations/{body['id']}/"
    assert body["status"] == "queued" and body["personas_done"] == 0 and body["size"] == 60
    assert not Persona.objects.filter(population_id=body["id"]).exists()
    # The allocation is decided (and shown) at once; the personas come with the build.
    assert sum(a["personas"] for a in body["areas"]) == 60
    detail = api.get(response["Location"]).json()
    assert detail["status"] == "queued" and detail["stage"] == "waiting for a worker"


def test_at_the_inline_maximum_the_population_is_built_in_the_request(api, small_inline_max):
    response = _post(api, 50)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "ready" and body["personas_done"] == 50
    assert body["started_at"] and body["finished_at"]
    assert Persona.objects.filter(population_id=body["id"]).count() == 50


def test_the_task_builds_the_population_and_reports_it_ready(
    api, small_inline_max, django_capture_on_commit_callbacks
):
    population = _queued(api, django_capture_on_commit_callbacks)
    assert population_build_task(population.pk) == "ready"
    detail = api.get(f"/api/v1/populations/{population.pk}/").json()
    assert detail["status"] == "ready"
    assert detail["personas_done"] == 60 and detail["stage"] == "" and detail["error_message"] == ""
    assert detail["started_at"] <= detail["finished_at"]
    assert sum(detail["composition"]["sex"].values()) == 60
    assert detail["validation_report"]["overall"]["personas"] == 60


def test_the_dispatched_build_runs_after_the_request_commits(
    api, small_inline_max, django_capture_on_commit_callbacks
):
    # Test settings use the inline executor: the committed request's callback builds it.
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(api, 60)
    assert response.status_code == 202
    assert api.get(response["Location"]).json()["status"] == "ready"
    assert Persona.objects.filter(population_id=response.json()["id"]).count() == 60


def test_with_celery_the_build_is_queued_after_commit_and_built_by_the_worker(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks
):
    settings.RUN_EXECUTOR = "celery"
    sent: list[int] = []
    monkeypatch.setattr(population_build_task, "delay", lambda pk: sent.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(api, 60)
    assert response.status_code == 202
    population = Population.objects.get(pk=response.json()["id"])
    assert sent == [population.pk] and population.status == Population.Status.QUEUED
    assert population_build_task.apply(args=[population.pk]).get() == "ready"  # the worker
    assert population.personas.count() == 60


def test_with_the_broker_down_the_population_fails_with_a_message(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks
):
    settings.RUN_EXECUTOR = "celery"

    def unreachable(pk):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(population_build_task, "delay", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(api, 60)
    detail = api.get(response["Location"]).json()
    assert detail["status"] == "failed"
    assert detail["error_message"].startswith("the task queue could not be reached")
    assert "6379" not in detail["error_message"]


@pytest.mark.parametrize("profile", [False, True])
def test_the_same_seed_gives_the_same_personas_inline_and_in_the_task(
    api, settings, django_capture_on_commit_callbacks, profile
):
    inline = _post(api, 60, seed=21, include_behavioral_characteristics=profile)
    assert inline.status_code == 201
    settings.POPULATION_INLINE_MAX = 50
    deferred = _queued(
        api, django_capture_on_commit_callbacks, seed=21, include_behavioral_characteristics=profile
    )
    population_build_task(deferred.pk)
    built = Population.objects.get(pk=inline.json()["id"])
    deferred.refresh_from_db()
    assert deferred.seed == built.seed == 21
    assert _personas(deferred) == _personas(built)
    assert len(_personas(built)) == 60
    assert deferred.validation_report == built.validation_report


def test_a_redelivered_task_for_a_ready_population_changes_nothing(
    api, small_inline_max, django_capture_on_commit_callbacks
):
    population = _queued(api, django_capture_on_commit_callbacks)
    population_build_task(population.pk)
    ids = list(population.personas.order_by("index").values_list("id", flat=True))
    assert population_build_task(population.pk) == "ready"
    assert list(population.personas.order_by("index").values_list("id", flat=True)) == ids


def test_a_redelivered_task_after_a_half_build_ends_with_exactly_size_personas(
    api, small_inline_max, django_capture_on_commit_callbacks
):
    population = _queued(api, django_capture_on_commit_callbacks)
    population_build_task(population.pk)
    expected = _personas(population)
    # As if a worker had died after writing part of the personas: building, 25 rows left over.
    population.personas.filter(index__gte=25).delete()
    Population.objects.filter(pk=population.pk).update(status=Population.Status.BUILDING)
    assert population_build_task(population.pk) == "ready"
    assert population.personas.count() == 60
    assert _personas(population) == expected


def test_a_failed_build_tells_the_user_without_internals_and_logs_the_error(
    api, small_inline_max, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    population = _queued(api, django_capture_on_commit_callbacks)

    def broken(**kwargs):
        raise RuntimeError('psycopg.OperationalError: connection to "db.internal:5432" refused')

    monkeypatch.setattr("personas.build.personas_insert", broken)
    with caplog.at_level(logging.ERROR, logger="personas.build"):
        assert population_build_task(population.pk) == "failed"
    detail = api.get(f"/api/v1/populations/{population.pk}/").json()
    assert detail["status"] == "failed" and detail["finished_at"]
    assert "internal error" in detail["error_message"]
    assert "psycopg" not in detail["error_message"] and "5432" not in detail["error_message"]
    assert "db.internal:5432" in caplog.text
    assert not Persona.objects.filter(population=population).exists()
    # A re-delivered task does not start the failed build again.
    monkeypatch.undo()
    assert population_build_task(population.pk) == "failed"


@pytest.fixture
def study(user, cces_question):
    return study_create(
        created_by=user,
        title="Coverage",
        items=[
            ItemSpec(code="coverage", text=cces_question.text, poll_question_id=cces_question.id)
        ],
    )


def test_a_run_on_a_population_still_being_built_is_a_409_with_its_progress(
    api, study, small_inline_max, django_capture_on_commit_callbacks
):
    population = _queued(api, django_capture_on_commit_callbacks)
    for path in ("/api/v1/runs/", "/api/v1/runs/estimate/"):
        response = api.post(path, {"study": study.id, "population": population.pk}, format="json")
        assert response.status_code == 409, (path, response.json())
        error = response.json()["error"]
        assert error["code"] == "population_not_ready"
        hold = " Or hold the run until it is: POST the same body to /api/v1/held-runs/."
        assert error["message"] == (
            f"Population {population.pk} is still being built (0 of 60 personas); try again "
            "when its status is ready." + (hold if path == "/api/v1/runs/" else "")
        )
    export = api.get(f"/api/v1/populations/{population.pk}/export/")
    assert export.status_code == 409
    population_build_task(population.pk)
    response = api.post(
        "/api/v1/runs/", {"study": study.id, "population": population.pk}, format="json"
    )
    assert response.status_code == 201, response.json()


def test_a_run_on_a_failed_population_is_a_409_saying_why(api, study, user):
    population = population_create(
        size=60, areas=[AreaWeight("dallas_tx_city")], seed=3, created_by=user, defer=True
    )
    Population.objects.filter(pk=population.pk).update(
        status=Population.Status.FAILED, error_message="the task queue could not be reached."
    )
    response = api.post(
        "/api/v1/runs/", {"study": study.id, "population": population.pk}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "population_failed"
    assert error["message"].startswith(
        f"Population {population.pk} failed to build: the task queue could not be reached."
    )


def test_the_population_page_shows_the_build_progress(
    client, user, api, small_inline_max, django_capture_on_commit_callbacks
):
    population = _queued(api, django_capture_on_commit_callbacks)
    client.force_login(user)
    page = client.get(f"/populations/{population.pk}/").content.decode()
    assert 'data-status="queued"' in page and "0 of 60 personas" in page
    assert "window.location.reload" in page
    population_build_task(population.pk)
    page = client.get(f"/populations/{population.pk}/").content.decode()
    assert "population-status" not in page and "window.location.reload" not in page


# --- progress: personas written and committed batch by batch -----------------------------------


class WorkerLost(BaseException):
    """A worker killed mid-build: nothing in the task catches it (as nothing runs after kill -9)."""


def _insert_spy(monkeypatch, *, on_call=None) -> list[int]:
    """Wrap the batch writer; `on_call(n)` runs before the n-th batch (from 1) is written."""
    from personas import build

    real = build.personas_insert
    calls: list[int] = []

    def spy(**kwargs):
        calls.append(kwargs["stop"])
        if on_call:
            on_call(len(calls))
        return real(**kwargs)

    monkeypatch.setattr(build, "personas_insert", spy)
    return calls


def test_the_build_reports_each_committed_batch_while_it_is_building(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks
):
    settings.POPULATION_BUILD_BATCH = 25
    population = _queued(api, django_capture_on_commit_callbacks)
    seen: list[tuple] = []

    def look(n: int) -> None:  # what a client polling the population sees before batch n
        detail = api.get(f"/api/v1/populations/{population.pk}/").json()
        seen.append((detail["status"], detail["personas_done"], detail["stage"]))

    calls = _insert_spy(monkeypatch, on_call=look)
    assert population_build_task(population.pk) == "ready"
    assert calls == [25, 50, 60]
    assert seen == [
        ("building", 0, "fitting area 2 of 2 (detroit_mi_city)"),
        ("building", 25, "writing personas"),
        ("building", 50, "writing personas"),
    ]
    population.refresh_from_db()
    assert population.personas_done == 60 and population.build_state == {}


@pytest.mark.parametrize("profile", [False, True], ids=["demographics", "profiles"])
@pytest.mark.parametrize(
    ("batch", "crash_before"),
    [(7, 4), (10, 3)],
    ids=["inside-a-profile-block", "at-a-profile-block-boundary"],
)
def test_a_build_killed_after_batch_k_resumes_there_with_the_same_personas(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks,
    profile, batch, crash_before,
):  # fmt: skip
    # Profiles come from one stream drawn in blocks of INSERT_BATCH; 20 here, so the resumed
    # build must restore the stream inside a block (21 written) or at its end (20 written).
    monkeypatch.setattr("personas.generation.INSERT_BATCH", 20)
    settings.POPULATION_BUILD_BATCH = batch
    settings.POPULATION_INLINE_MAX = 60
    expected = _post(api, 60, seed=33, include_behavioral_characteristics=profile)
    assert expected.status_code == 201  # built in one write, in the request
    settings.POPULATION_INLINE_MAX = 50
    uninterrupted = _queued(
        api, django_capture_on_commit_callbacks, seed=33, include_behavioral_characteristics=profile
    )
    population_build_task(uninterrupted.pk)
    population = _queued(
        api, django_capture_on_commit_callbacks, seed=33, include_behavioral_characteristics=profile
    )

    def kill(n: int) -> None:
        if n == crash_before:
            raise WorkerLost

    _insert_spy(monkeypatch, on_call=kill)
    with pytest.raises(WorkerLost):
        population_build_task(population.pk)
    written = batch * (crash_before - 1)
    population.refresh_from_db()
    assert population.status == "building" and population.personas_done == written
    assert population.personas.count() == written
    kept = list(population.personas.order_by("index").values_list("id", flat=True))

    calls = _insert_spy(monkeypatch)  # the task delivered again, to a worker that lives
    assert population_build_task(population.pk) == "ready"
    assert calls[0] == min(written + batch, 60)  # it went on from batch k, not from the start
    assert population.personas.count() == 60
    assert list(population.personas.order_by("index")[:written].values_list("id", flat=True)) == (
        kept
    )
    reference = Population.objects.get(pk=expected.json()["id"])
    assert _personas(population) == _personas(reference) == _personas(uninterrupted)
    population.refresh_from_db()
    assert population.validation_report == reference.validation_report
    assert population.build_attempt == 2


def test_rows_left_by_an_interrupted_build_that_cannot_be_continued_are_replaced(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks
):
    settings.POPULATION_BUILD_BATCH = 20
    population = _queued(
        api, django_capture_on_commit_callbacks, include_behavioral_characteristics=True
    )

    def kill(n: int) -> None:
        if n == 3:
            raise WorkerLost

    _insert_spy(monkeypatch, on_call=kill)
    with pytest.raises(WorkerLost):
        population_build_task(population.pk)
    monkeypatch.undo()
    # The profile stream's saved state is lost: the build cannot continue exactly, so it starts over.
    Population.objects.filter(pk=population.pk).update(build_state={})
    assert population_build_task(population.pk) == "ready"
    settings.POPULATION_INLINE_MAX = 60
    reference = _post(api, 60, include_behavioral_characteristics=True)
    assert _personas(population) == _personas(Population.objects.get(pk=reference.json()["id"]))


def test_a_newer_attempt_stops_the_older_one_at_its_next_batch(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db.models import F

    settings.POPULATION_BUILD_BATCH = 10
    population = _queued(api, django_capture_on_commit_callbacks)

    def take_over(n: int) -> None:  # the watchdog's task takes the build up during batch 2
        if n == 2:
            Population.objects.filter(pk=population.pk).update(build_attempt=F("build_attempt") + 1)

    _insert_spy(monkeypatch, on_call=take_over)
    # The older attempt writes batch 2 (it owned the row when it locked it), then stops quietly.
    assert population_build_task(population.pk) == "building"
    population.refresh_from_db()
    assert population.personas_done == 20 and population.error_message == ""
    monkeypatch.undo()
    assert population_build_task(population.pk) == "ready"
    assert population.personas.count() == 60
    assert sorted(population.personas.values_list("index", flat=True)) == list(range(60))


# --- the watchdog (personas.tasks.populations_watchdog_task, on Celery beat) --------------------


def _stalled(api, monkeypatch, django_capture_on_commit_callbacks, *, minutes_ago: int):
    """A build whose worker died after two batches of 10, `minutes_ago` minutes ago."""
    from datetime import timedelta

    from django.utils import timezone

    population = _queued(api, django_capture_on_commit_callbacks)

    def kill(n: int) -> None:
        if n == 3:
            raise WorkerLost

    _insert_spy(monkeypatch, on_call=kill)
    with pytest.raises(WorkerLost):
        population_build_task(population.pk)
    monkeypatch.undo()
    Population.objects.filter(pk=population.pk).update(
        progress_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return population


@pytest.fixture
def watched(settings, small_inline_max, monkeypatch):
    """Celery as the executor, its queue recorded: what the watchdog hands to the workers."""
    settings.RUN_EXECUTOR = "celery"
    settings.POPULATION_BUILD_BATCH = 10
    settings.POPULATION_STALE_SECONDS = 20 * 60
    sent: list[int] = []
    monkeypatch.setattr(population_build_task, "delay", lambda pk: sent.append(pk))
    return sent


def test_the_watchdog_hands_a_silent_build_to_the_workers_and_it_finishes(
    api, watched, monkeypatch, django_capture_on_commit_callbacks
):
    from personas.build import populations_resume_stale

    silent = _stalled(api, monkeypatch, django_capture_on_commit_callbacks, minutes_ago=21)
    monkeypatch.setattr(population_build_task, "delay", lambda pk: watched.append(pk))
    assert populations_resume_stale() == [silent.pk]
    assert watched == [silent.pk]
    assert populations_resume_stale() == []  # claimed: the next round leaves it to its worker
    assert population_build_task(silent.pk) == "ready"  # the worker
    assert silent.personas.count() == 60


def test_the_watchdog_leaves_a_build_that_is_moving(
    api, watched, monkeypatch, django_capture_on_commit_callbacks
):
    from personas.build import populations_resume_stale

    _stalled(api, monkeypatch, django_capture_on_commit_callbacks, minutes_ago=19)
    assert populations_resume_stale() == [] and watched == []


def test_the_watchdog_fails_a_build_that_keeps_dying_with_a_clear_message(
    api, settings, watched, monkeypatch, django_capture_on_commit_callbacks
):
    from personas.build import populations_resume_stale

    settings.POPULATION_BUILD_ATTEMPTS = 1
    silent = _stalled(api, monkeypatch, django_capture_on_commit_callbacks, minutes_ago=21)
    assert populations_resume_stale() == [] and watched == []
    detail = api.get(f"/api/v1/populations/{silent.pk}/").json()
    assert detail["status"] == "failed"
    assert detail["error_message"].startswith("the build stopped 1 times without finishing")
    assert not Persona.objects.filter(population=silent).exists()


# --- manage.py resume_populations (the embedded setup has no beat) ------------------------------


def test_resume_populations_continues_a_silent_build_in_the_command(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks
):
    settings.POPULATION_BUILD_BATCH = 10
    silent = _stalled(api, monkeypatch, django_capture_on_commit_callbacks, minutes_ago=21)
    assert silent.personas.count() == 20
    out = io.StringIO()
    call_command("resume_populations", "--stale-minutes", "30", stdout=out)
    assert out.getvalue().strip() == (
        "No queued or building population has been idle for 30 minutes, and no run is waiting "
        "on a ready one."
    )
    call_command("resume_populations", "--stale-minutes", "20", stdout=out)
    assert f"Population {silent.pk}: ready, 60/60 personas" in out.getvalue()
    reference = _queued(api, django_capture_on_commit_callbacks)
    assert population_build_task(reference.pk) == "ready"
    assert _personas(silent) == _personas(reference)  # as if it had never stopped


def test_resume_populations_takes_up_a_named_build_and_refuses_a_finished_one(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks
):
    settings.POPULATION_BUILD_BATCH = 10
    orphan = _stalled(api, monkeypatch, django_capture_on_commit_callbacks, minutes_ago=1)
    out = io.StringIO()
    call_command("resume_populations", "--population", str(orphan.pk), stdout=out)
    assert out.getvalue().strip() == f"Population {orphan.pk}: ready, 60/60 personas"
    with pytest.raises(CommandError, match=f"population {orphan.pk} is ready"):
        call_command("resume_populations", "--population", str(orphan.pk))
    with pytest.raises(CommandError, match="No population with id 987654"):
        call_command("resume_populations", "--population", "987654")
    with pytest.raises(CommandError, match="Say which builds to take up"):
        call_command("resume_populations")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("resume_populations", "--stale-minutes", "0")


def test_the_population_watchdog_is_on_the_beat_schedule(settings):
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["populations-watchdog"]
    assert entry["task"] in app.tasks
    assert app.tasks[entry["task"]].name == "personas.tasks.populations_watchdog_task"


# --- the personas list refuses a population that is not ready ----------------------------------


def test_the_personas_of_a_population_being_built_are_a_409_not_an_empty_list(
    api, settings, small_inline_max, monkeypatch, django_capture_on_commit_callbacks
):
    settings.POPULATION_BUILD_BATCH = 25
    population = _queued(api, django_capture_on_commit_callbacks)
    path = f"/api/v1/populations/{population.pk}/personas/"
    response = api.get(path)
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "population_not_ready",
        "message": f"Population {population.pk} is still being built (0 of 60 personas); try "
        "again when its status is ready.",
        "fields": {"population": ["status queued"]},
    }

    def kill(n: int) -> None:
        if n == 2:
            raise WorkerLost

    _insert_spy(monkeypatch, on_call=kill)
    with pytest.raises(WorkerLost):
        population_build_task(population.pk)
    monkeypatch.undo()
    response = api.get(path)  # 25 personas are stored, but the list is not theirs to give yet
    assert response.status_code == 409
    assert "(25 of 60 personas)" in response.json()["error"]["message"]
    population_build_task(population.pk)
    response = api.get(path)
    assert response.status_code == 200 and response.json()["count"] == 60


def test_the_personas_of_a_failed_population_are_a_409_saying_why(api, user):
    population = population_create(
        size=60, areas=[AreaWeight("dallas_tx_city")], seed=3, created_by=user, defer=True
    )
    Population.objects.filter(pk=population.pk).update(
        status=Population.Status.FAILED, error_message="the task queue could not be reached."
    )
    response = api.get(f"/api/v1/populations/{population.pk}/personas/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "population_failed"
