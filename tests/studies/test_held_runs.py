"""Runs held for a population still being built (studies.services.held_runs): refused at once for
what can be checked without personas, started once when the build completes, failed with it."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from config.errors import ConflictError, DomainError
from personas.models import Population
from personas.services import AreaWeight, population_create
from personas.tasks import population_build_dispatch, population_build_task
from polls.models import Option, Poll, Question
from studies.models import HeldRun, Run
from studies.selectors import held_run_list
from studies.services import ConditionSpec, ItemSpec, study_create
from studies.services.held_runs import (
    held_run_cancel,
    held_run_create,
    held_run_start,
    held_runs_start,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(user) -> Population:
    """A population stored queued, its build not run yet (as the study form leaves it)."""
    return population_create(
        size=30, areas=[AreaWeight("dallas_tx_city")], created_by=user, seed=5, defer=True
    )


def _study(user, question, **extra):
    item = ItemSpec(code="coverage", text=question.text, poll_question_id=question.id)
    return study_create(title="Coverage", items=[item], created_by=user, **extra)


@pytest.fixture
def study(user, cces_question):
    return _study(user, cces_question)


def _hold(study, population, user, **extra) -> HeldRun:
    spec = {"backend": "poll_model", "backend_config": {}, "budget": None, **extra}
    return held_run_create(study=study, population=population, created_by=user, **spec)


def _build(population, capture) -> str:
    """The build task, its after-commit work (the held runs, their runs) executed."""
    with capture(execute=True):
        status = population_build_task(population.pk)
    return status


# --- holding: refused at once for what the personas do not change -----------------------------


def _foreign_question() -> Question:
    poll = Poll.objects.create(
        slug="uk-poll", title="A British poll", pollster="t", population="GB", source="t",
        country="GB",
    )  # fmt: skip
    question = Question.objects.create(poll=poll, code="q", text="Do you?")
    Option.objects.create(question=question, code="yes", label="Yes")
    return question


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown_backend", "Unknown backend 'oracle'"),
        ("foreign_poll", "a poll of country GB"),
        ("stimulus_offline", "cannot read what a condition shows"),
        ("llm_key_alias", "key 'team-b' is not a key alias of this server"),
        ("llm_no_key", "No API key for openai: set OPENAI_API_KEY"),
        ("budget_zero", "budget must be a positive amount"),
    ],
)
def test_what_a_run_would_be_refused_for_is_refused_when_it_is_held(
    user, queued, cces_question, monkeypatch, case, message
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY_FILE", raising=False)
    llm = {"llm": {"provider": "openai", "model": "gpt-test"}}
    study, extra = _study(user, cces_question), {}
    if case == "unknown_backend":
        extra = {"backend": "oracle"}
    elif case == "foreign_poll":
        study = _study(user, _foreign_question())
    elif case == "stimulus_offline":
        arms = [ConditionSpec("control", "Control"), ConditionSpec("msg", "Msg", "Read: ...")]
        study = _study(user, cces_question, conditions=arms)
    elif case == "llm_key_alias":
        extra = {"backend": "llm", "backend_config": {"llm": {**llm["llm"], "key": "team-b"}}}
    elif case == "llm_no_key":
        extra = {"backend": "llm", "backend_config": llm}
    else:
        extra = {"budget": Decimal("0")}
    with pytest.raises(DomainError, match=message):
        _hold(study, queued, user, **extra)
    assert not HeldRun.objects.exists()


# --- starting when the build completes ----------------------------------------------------------


def test_a_held_run_starts_when_its_population_is_built(
    user, queued, study, django_capture_on_commit_callbacks
):
    held = _hold(study, queued, user, budget=Decimal("5"))
    assert held.status == "held" and not Run.objects.exists()
    assert _build(queued, django_capture_on_commit_callbacks) == "ready"
    held.refresh_from_db()
    run = Run.objects.get()
    assert held.status == "started" and held.run == run and held.settled_at is not None
    assert (run.study, run.population, run.backend, run.budget) == (
        study, queued, "poll_model", Decimal("5")
    )  # fmt: skip
    assert run.created_by == user and run.status == "completed" and run.personas_done == 30
    start = AuditEvent.objects.get(action="start")
    assert start.via == "system" and start.owner == user and start.detail["held_run"] == held.id


def test_a_build_completion_delivered_again_does_not_start_the_held_run_twice(
    user, queued, study, django_capture_on_commit_callbacks
):
    held = _hold(study, queued, user)
    assert _build(queued, django_capture_on_commit_callbacks) == "ready"
    # The task delivered again (acks_late), and the settled run asked for directly.
    assert _build(queued, django_capture_on_commit_callbacks) == "ready"
    with django_capture_on_commit_callbacks(execute=True):
        assert held_runs_start(population_id=queued.pk) == []
        assert held_run_start(held_run_id=held.id) is None
    assert Run.objects.count() == 1
    held.refresh_from_db()
    assert held.status == "started" and held.run == Run.objects.get()


def test_a_held_run_left_waiting_on_a_ready_population_starts_on_the_next_delivery(
    user, queued, study, django_capture_on_commit_callbacks
):
    # The build's process stopped between marking the population ready and starting the run:
    # its after-commit work never ran.
    held = _hold(study, queued, user)
    with django_capture_on_commit_callbacks(execute=False):
        assert population_build_task(queued.pk) == "ready"
    held.refresh_from_db()
    assert held.status == "held" and not Run.objects.exists()
    assert _build(queued, django_capture_on_commit_callbacks) == "ready"  # delivered again
    held.refresh_from_db()
    assert held.status == "started" and Run.objects.count() == 1


def test_a_held_run_refused_at_the_start_fails_with_its_message_and_another_still_starts(
    user, queued, cces_question, study, django_capture_on_commit_callbacks
):
    # Quotas are checked against the built personas: 30 cannot fill 40 women.
    short = _hold(_study(user, cces_question, quotas={"sex": {"female": 40}}), queued, user)
    fine = _hold(study, queued, user)
    assert _build(queued, django_capture_on_commit_callbacks) == "ready"
    short.refresh_from_db()
    fine.refresh_from_db()
    assert short.status == "failed" and short.run is None
    assert "female" in short.error_message and "40" in short.error_message
    assert fine.status == "started" and fine.run.status == "completed"
    assert Run.objects.count() == 1


def test_a_held_run_over_its_budget_fails_with_the_estimate_and_another_still_starts(
    user, queued, cces_question, study, llm_env, django_capture_on_commit_callbacks
):
    from llm.services import model_price_set

    # Made-up figures for the test, not a provider's real price list.
    model_price_set(
        provider="openai",
        model="gpt-test",
        input_per_million=Decimal("1"),
        output_per_million=Decimal("4"),
        source="test fixture",
    )
    llm = {"llm": {"provider": "openai", "model": "gpt-test"}, "engine": {"depth": "shallow"}}
    over = _hold(study, queued, user, backend="llm", backend_config=llm, budget=Decimal("0.0001"))
    fine = _hold(_study(user, cces_question), queued, user)
    assert _build(queued, django_capture_on_commit_callbacks) == "ready"
    over.refresh_from_db()
    fine.refresh_from_db()
    assert over.status == "failed" and "above the budget of 0.0001" in over.error_message
    assert fine.status == "started" and Run.objects.get() == fine.run


def test_an_internal_error_starting_one_held_run_fails_only_that_one(
    user, queued, cces_question, study, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    from studies.services import held_runs

    broken_study = _study(user, cces_question)
    broken = _hold(broken_study, queued, user)
    fine = _hold(study, queued, user)
    real_start = held_runs.run_start

    def start(**kwargs):
        if kwargs["study"] == broken_study:
            raise RuntimeError('psycopg.OperationalError: "db.internal:5432" refused')
        return real_start(**kwargs)

    monkeypatch.setattr(held_runs, "run_start", start)
    with caplog.at_level(logging.ERROR, logger="studies.services.held_runs"):
        assert _build(queued, django_capture_on_commit_callbacks) == "ready"
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert broken.status == "failed" and "internal error" in broken.error_message
    assert "5432" not in broken.error_message and "db.internal:5432" in caplog.text
    assert fine.status == "started" and Run.objects.get() == fine.run
    queued.refresh_from_db()
    assert queued.status == "ready"


# --- a failed build ------------------------------------------------------------------------------


def test_a_failed_build_fails_its_held_runs_saying_so(
    user, queued, study, django_capture_on_commit_callbacks, monkeypatch
):
    held = _hold(study, queued, user)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("personas.build.personas_insert", broken)
    assert _build(queued, django_capture_on_commit_callbacks) == "failed"
    held.refresh_from_db()
    assert held.status == "failed" and held.settled_at is not None
    assert held.error_message.startswith("The population failed to build (the server stopped")
    assert "disk full" not in held.error_message and not Run.objects.exists()


def test_with_the_broker_down_the_held_run_fails_with_the_population(
    user, queued, study, settings, monkeypatch
):
    settings.RUN_EXECUTOR = "celery"

    def unreachable(pk):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(population_build_task, "delay", unreachable)
    held = _hold(study, queued, user)
    population_build_dispatch(population_id=queued.pk)
    held.refresh_from_db()
    queued.refresh_from_db()
    assert queued.status == "failed" and held.status == "failed"
    assert "the task queue could not be reached" in held.error_message


# --- owners and cancelling -----------------------------------------------------------------------


def test_only_its_owner_and_staff_see_a_held_run(user, queued, study, django_user_model):
    held = _hold(study, queued, user)
    other = django_user_model.objects.create_user("other", password="x-long-pass-1")
    staff = django_user_model.objects.create_user("ops", password="x-long-pass-2", is_staff=True)
    assert list(held_run_list(user=user)) == [held]
    assert list(held_run_list(user=staff)) == [held]
    assert not held_run_list(user=other).exists()


def test_a_cancelled_held_run_is_not_started_by_the_build(
    user, queued, study, django_capture_on_commit_callbacks
):
    held = _hold(study, queued, user)
    held_run_cancel(held_run=held, actor=user)
    assert not HeldRun.objects.exists()
    assert AuditEvent.objects.get(action="cancel").object_type == "studies.heldrun"
    assert _build(queued, django_capture_on_commit_callbacks) == "ready"
    assert not Run.objects.exists()


def test_a_started_held_run_cannot_be_cancelled_as_held(
    user, queued, study, django_capture_on_commit_callbacks
):
    held = _hold(study, queued, user)
    _build(queued, django_capture_on_commit_callbacks)
    with pytest.raises(ConflictError, match=r"already started .*cancel the run from its page"):
        held_run_cancel(held_run=held, actor=user)
    held.refresh_from_db()
    assert held.status == "started"
