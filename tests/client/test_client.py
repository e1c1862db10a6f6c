"""The Python client end to end against a real test server (pytest-django's live_server) on the
offline backend: population, study, run followed to the end, answers and results in pandas."""

from __future__ import annotations

import io
import threading

import pytest

from accounts.models import Token
from environment.models import Area
from persona_lab.client import ApiError, Client, HeldRunFailed, PopulationFailed
from polls.models import Poll
from studies.models import Answer
from tests.conftest import load_reference_data

# live_server needs a database whose writes other threads see (transactional); such a test
# empties the database after it, so the reference data is loaded again when missing.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lab(live_server, django_user_model, settings):
    if not (
        Area.objects.filter(id="phoenix_az_city").exists()
        and Poll.objects.filter(slug="cces-2018-abortion").exists()
    ):
        load_reference_data()
    # The run goes on in the background, as on a server, so the client has progress to follow.
    settings.RUN_EXECUTOR = "thread"
    user = django_user_model.objects.create_user("scripter", password="a-long-test-password")
    return Client(live_server.url, token=Token.objects.create(user=user).key)


def test_a_run_from_python_ends_in_a_dataframe_matching_the_database(lab):
    population = lab.create_population(["phoenix_az_city"], size=60, seed=3, profile=True)
    question = lab.question("cces-2018-abortion", "employers-decline-abortion-coverage")
    study = lab.create_study("Coverage from Python", questions=[question])
    progress = io.StringIO()
    run = lab.start_run(study, population, backend="poll_cell", seed=9, chunk_size=10)
    run.wait(stream=progress, interval=0.05, timeout=120)
    assert run.status == "completed"
    assert "60/60 100%" in progress.getvalue() and progress.getvalue().endswith("completed\n")

    frame = run.to_pandas()
    stored = dict(Answer.objects.filter(run_id=run.id).values_list("persona_id", "option__code"))
    assert (
        len(frame) == 60 and dict(zip(frame["persona_id"], frame["answer"], strict=True)) == stored
    )
    assert frame["age"].dtype.kind == "i" and frame["probability"].between(0, 1).all()

    results = run.results_frame()
    shares = results[(results["group_by"] == "all") & (results["statistic"] == "share")]
    expected = {o["code"]: o["share"] for o in run.results()["items"][0]["options"]}
    assert dict(zip(shares["option"], shares["value"], strict=True)) == pytest.approx(expected)

    personas = population.to_pandas()
    assert len(personas) == 60 and set(frame["persona_id"]) == set(personas["id"])


def test_a_refusal_arrives_as_an_api_error_with_the_message(lab):
    with pytest.raises(ApiError) as refused:
        lab.create_population(["atlantis_xx_city"], size=10)
    assert refused.value.status == 400 and "atlantis_xx_city" in refused.value.message
    with pytest.raises(ApiError) as missing:
        lab.run(999999)
    assert missing.value.status == 404


def test_a_large_population_is_waited_for_until_the_server_has_built_it(lab, settings):
    # Above the inline maximum the server answers 202 and builds it on a thread of its own.
    settings.POPULATION_INLINE_MAX = 50
    population = lab.create_population(["phoenix_az_city"], size=80, seed=4, wait_interval=0.05)
    assert population.status == "ready" and population.data["personas_done"] == 80
    assert len(population.to_pandas()) == 80


def test_a_population_that_fails_to_build_raises_with_the_servers_message(
    lab, settings, monkeypatch
):
    settings.POPULATION_INLINE_MAX = 50

    def broken(**kwargs):
        raise RuntimeError("disk I/O error at /var/lib/postgresql")

    monkeypatch.setattr("personas.build.personas_insert", broken)
    with pytest.raises(PopulationFailed) as failed:
        lab.create_population(["phoenix_az_city"], size=80, seed=4, wait_interval=0.05)
    assert "failed to build: the server stopped on an internal error" in str(failed.value)
    assert "postgresql" not in str(failed.value)


def test_a_run_held_for_a_population_being_built_is_started_by_the_build(lab, settings):
    settings.POPULATION_INLINE_MAX = 50
    population = lab.create_population(["phoenix_az_city"], size=80, seed=4, wait=False)
    question = lab.question("cces-2018-abortion", "employers-decline-abortion-coverage")
    study = lab.create_study("Held from Python", questions=[question])

    held = lab.hold_run(study, population, backend="poll_cell", seed=9)
    # Held while the build goes on, or started at once if the build finished first.
    assert held.status in ("held", "started")
    run = held.wait(interval=0.05, timeout=120)
    assert held.status == "started" and run.id == held.data["run"]
    assert run.wait(progress=False, interval=0.05, timeout=120).status == "completed"
    assert len(run.to_pandas()) == 80


def test_a_held_run_whose_population_fails_raises_and_cannot_be_retried(lab, settings, monkeypatch):
    settings.POPULATION_INLINE_MAX = 50
    release = threading.Event()

    def broken(*args, **kwargs):
        # The build fails once the run is held; it waits outside any transaction, so the
        # test's own writes are not locked out of the SQLite database meanwhile.
        release.wait(30)
        raise RuntimeError("disk I/O error")

    monkeypatch.setattr("personas.build._population_plan", broken)
    population = lab.create_population(["phoenix_az_city"], size=80, seed=4, wait=False)
    question = lab.question("cces-2018-abortion", "employers-decline-abortion-coverage")
    study = lab.create_study("Held on a failing build", questions=[question])
    held = lab.hold_run(study, population, backend="poll_cell")
    assert held.status == "held"
    release.set()

    with pytest.raises(HeldRunFailed) as failed:
        held.wait(interval=0.05, timeout=60)
    assert "failed to build" in str(failed.value)
    with pytest.raises(ApiError) as refused:
        held.retry()
    assert refused.value.status == 409 and "new population" in refused.value.message
