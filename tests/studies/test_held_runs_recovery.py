"""Held runs that did not start when they should have: the population watchdog starts those a
stopped process left waiting on a ready population, and a failed one is retried from the
population page."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditEvent
from personas.build import population_fail
from personas.models import Population
from personas.services import AreaWeight, population_create
from personas.tasks import population_build_task, populations_watchdog_task
from studies.models import HeldRun, Run
from studies.services.held_runs import held_run_create, held_runs_start_stale

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(user) -> Population:
    return population_create(
        size=30, areas=[AreaWeight("dallas_tx_city")], created_by=user, seed=5, defer=True
    )


def _hold(study, population, user) -> HeldRun:
    return held_run_create(
        study=study,
        population=population,
        backend="poll_model",
        backend_config={},
        budget=None,
        created_by=user,
    )


def _left_waiting(study, queued, user, capture) -> HeldRun:
    """A held run whose population's build completed in a process that stopped before its
    after-commit start of the held runs."""
    held = _hold(study, queued, user)
    with capture(execute=False):
        assert population_build_task(queued.pk) == "ready"
    held.refresh_from_db()
    assert held.status == "held"
    return held


def _ready_at(population: Population):
    population.refresh_from_db()
    assert population.status == "ready" and population.finished_at is not None
    return population.finished_at


# --- the watchdog -------------------------------------------------------------------------------


def test_the_watchdog_starts_a_run_left_waiting_once_the_grace_period_is_over(
    user, study, queued, settings, django_capture_on_commit_callbacks, caplog
):
    settings.HELD_RUN_START_GRACE_SECONDS = 60
    held = _left_waiting(study, queued, user, django_capture_on_commit_callbacks)
    ready_at = _ready_at(queued)
    # Within the grace period the build's own start may still be on its way: left alone.
    assert held_runs_start_stale(now=ready_at + timedelta(seconds=59)) == []
    assert HeldRun.objects.get().status == "held" and not Run.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):  # the run's dispatch
        assert held_runs_start_stale(now=ready_at + timedelta(seconds=61)) == [held.id]
    held.refresh_from_db()
    run = Run.objects.get()
    assert held.status == "started" and held.run == run and run.status == "completed"
    assert f"Held run {held.id} was still waiting on population {queued.pk}" in caplog.text
    start = AuditEvent.objects.get(action="start")
    assert start.via == "system" and start.actor is None and start.owner == user
    # The next round finds nothing: started once.
    assert held_runs_start_stale(now=ready_at + timedelta(seconds=600)) == []
    assert Run.objects.count() == 1


def test_the_watchdog_leaves_runs_held_on_a_population_still_building_or_failed(
    user, study, queued, settings
):
    settings.HELD_RUN_START_GRACE_SECONDS = 60
    building = _hold(study, queued, user)
    broken = population_create(
        size=30, areas=[AreaWeight("dallas_tx_city")], created_by=user, seed=6, defer=True
    )
    failed = _hold(study, broken, user)
    population_fail(population_id=broken.pk, message="the disk was full")
    later = timezone.now() + timedelta(days=1)
    assert held_runs_start_stale(now=later) == []
    assert HeldRun.objects.get(pk=building.pk).status == "held"
    assert HeldRun.objects.get(pk=failed.pk).status == "failed"
    assert not Run.objects.exists()


def test_the_population_watchdog_task_starts_held_runs_ready_longer_than_the_setting(
    user, study, queued, settings, django_capture_on_commit_callbacks
):
    settings.HELD_RUN_START_GRACE_SECONDS = 120
    held = _left_waiting(study, queued, user, django_capture_on_commit_callbacks)
    assert populations_watchdog_task() == {"populations_resumed": [], "held_runs_settled": []}
    # Ready two minutes and a second ago.
    Population.objects.filter(pk=queued.pk).update(
        finished_at=timezone.now() - timedelta(seconds=121)
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = populations_watchdog_task()
    assert result == {"populations_resumed": [], "held_runs_settled": [held.id]}
    assert HeldRun.objects.get().status == "started" and Run.objects.get().status == "completed"


def test_a_start_the_watchdog_finds_refused_fails_the_held_run_with_its_message(
    user, study, queued, settings, django_capture_on_commit_callbacks
):
    settings.HELD_RUN_START_GRACE_SECONDS = 60
    settings.QUOTA_RUNS_PER_DAY = 0
    held = _left_waiting(study, queued, user, django_capture_on_commit_callbacks)
    assert held_runs_start_stale(now=_ready_at(queued) + timedelta(minutes=5)) == [held.id]
    held.refresh_from_db()
    assert held.status == "failed" and "quota is 0 a day" in held.error_message


# --- retry from the population page -------------------------------------------------------------


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def _page(browser, population) -> str:
    response = browser.get(f"/populations/{population.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _retry(browser, held):
    return browser.post(f"/populations/{held.population_id}/held-runs/{held.id}/retry/")


def test_a_failed_held_run_is_retried_from_the_population_page_and_its_run_opens(
    browser, user, study, queued, settings, django_capture_on_commit_callbacks
):
    settings.QUOTA_RUNS_PER_DAY = 0
    held = _hold(study, queued, user)
    with django_capture_on_commit_callbacks(execute=True):
        population_build_task(queued.pk)
    held.refresh_from_db()
    assert held.status == "failed"
    page = _page(browser, queued)
    assert f'id="held-run-{held.id}" data-status="failed"' in page
    assert "Retry: start it now" in page and "held-run-retry" in page

    refused = _retry(browser, held)  # still over the quota: the page says why
    assert refused.status_code == 429
    assert "quota is 0 a day" in refused.content.decode()

    settings.QUOTA_RUNS_PER_DAY = 5
    with django_capture_on_commit_callbacks(execute=True):
        response = _retry(browser, held)
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
    assert run.status == "completed"
    held.refresh_from_db()
    assert held.status == "started" and held.run == run
    retry = AuditEvent.objects.filter(action="retry").latest("id")
    assert (retry.via, retry.actor, retry.detail["outcome"]) == ("page", user, "started")
    assert "held-run-retry" not in _page(browser, queued)


def test_a_held_run_whose_population_failed_offers_no_retry_and_refuses_one(
    browser, user, study, queued
):
    held = _hold(study, queued, user)
    population_fail(population_id=queued.pk, message="the disk was full")
    page = _page(browser, queued)
    assert f'id="held-run-{held.id}" data-status="failed"' in page
    assert "held-run-retry" not in page
    response = _retry(browser, held)
    assert response.status_code == 409
    assert "Create a new population" in response.content.decode()


def test_a_stranger_cannot_retry_a_held_run(user, study, queued, django_user_model):
    from django.test import Client

    held = _hold(study, queued, user)
    HeldRun.objects.filter(pk=held.pk).update(status="failed", error_message="it broke")
    stranger = Client()
    stranger.force_login(django_user_model.objects.create_user("stranger", password="x" * 20))
    assert _retry(stranger, held).status_code == 404
    assert HeldRun.objects.get().status == "failed"


# --- manage.py resume_populations: the embedded setup has no beat to run the watchdog ------------


def test_resume_populations_starts_a_run_left_waiting_once_the_grace_period_is_over(
    user, study, queued, settings, django_capture_on_commit_callbacks
):
    settings.HELD_RUN_START_GRACE_SECONDS = 60
    held = _left_waiting(study, queued, user, django_capture_on_commit_callbacks)
    out = io.StringIO()
    call_command("resume_populations", "--stale-minutes", "30", stdout=out)
    assert out.getvalue().strip() == (
        "No queued or building population has been idle for 30 minutes, and no run is waiting "
        "on a ready one."
    )
    assert HeldRun.objects.get().status == "held"  # within the grace period: left alone
    Population.objects.filter(pk=queued.pk).update(
        finished_at=timezone.now() - timedelta(seconds=61)
    )
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("resume_populations", "--stale-minutes", "30", stdout=out)
    run = Run.objects.get()
    assert out.getvalue().strip() == (
        f"Held run {held.id} on population {queued.pk}: started run {run.id} (queued)"
    )
    held.refresh_from_db()
    run.refresh_from_db()
    assert held.status == "started" and held.run == run and run.status == "completed"
    out = io.StringIO()
    call_command("resume_populations", "--stale-minutes", "30", stdout=out)
    assert "no run is waiting on a ready one" in out.getvalue()
    assert Run.objects.count() == 1


def test_resume_populations_starts_the_held_runs_of_a_named_ready_population(
    user, study, queued, settings, django_capture_on_commit_callbacks
):
    settings.QUOTA_RUNS_PER_DAY = 0  # the start is refused: the held run fails with why
    settings.HELD_RUN_START_GRACE_SECONDS = 60
    held = _left_waiting(study, queued, user, django_capture_on_commit_callbacks)
    out = io.StringIO()
    call_command("resume_populations", "--population", str(queued.pk), stdout=out)
    assert out.getvalue().strip() == (
        f"The runs held on population {queued.pk} wait for the build's own start for 60 s after "
        "it was ready; give --held-grace-seconds 0 to start them now."
    )
    assert HeldRun.objects.get().status == "held"
    out = io.StringIO()
    call_command(
        "resume_populations",
        "--population",
        str(queued.pk),
        "--held-grace-seconds",
        "0",
        stdout=out,
    )
    line = out.getvalue().strip()
    assert line.startswith(f"Held run {held.id} on population {queued.pk}: failed (You have ")
    assert "quota is 0 a day" in line and not Run.objects.exists()
    # Nothing is held on it any more: a ready population is refused as before.
    with pytest.raises(CommandError, match=f"population {queued.pk} is ready"):
        call_command("resume_populations", "--population", str(queued.pk))
    with pytest.raises(CommandError, match="--held-grace-seconds must be 0 or more; got -1"):
        call_command("resume_populations", "--stale-minutes", "5", "--held-grace-seconds", "-1")
