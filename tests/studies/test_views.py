from __future__ import annotations

import pytest

from config.errors import DomainError
from personas.models import Persona, Population
from studies.forms import StudyStartForm
from studies.models import HeldRun, Run, Study
from tests.conftest import DEMO_AREAS

pytestmark = pytest.mark.django_db

# A city whose census files lack some of the five dimensions (age and sex here).
INCOMPLETE_CITY = "the_villages_fl_city"


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def stranger_browser(django_user_model):
    from django.test import Client

    other = Client()
    other.force_login(django_user_model.objects.create_user("stranger", password="x-long-pass-1"))
    return other


def _form(cces_question, **overrides) -> dict:
    return {
        "title": "Coverage",
        "question": cces_question.id,
        "areas": DEMO_AREAS,
        "size": 40,
        **overrides,
    }


def test_the_form_offers_only_areas_with_all_five_dimensions():
    offered = set(StudyStartForm().fields["areas"].queryset.values_list("id", flat=True))
    assert set(DEMO_AREAS) <= offered
    assert INCOMPLETE_CITY not in offered


def test_an_area_without_every_marginal_is_refused_by_the_form(browser, cces_question):
    response = browser.post("/", _form(cces_question, areas=[INCOMPLETE_CITY]))
    assert response.status_code == 200
    assert INCOMPLETE_CITY in response.content.decode()
    assert "Select a valid choice" in response.content.decode()
    assert not Study.objects.exists() and not Population.objects.exists()


def test_a_run_that_cannot_start_leaves_no_study_or_population_behind(
    browser, cces_question, monkeypatch
):
    def refuse(**kwargs):
        raise DomainError("The backend refuses this study: no worker.")

    monkeypatch.setattr("studies.views.run_start", refuse)
    response = browser.post("/", _form(cces_question))
    assert response.status_code == 200
    assert "no worker" in response.content.decode()
    assert not Study.objects.exists()
    assert not Population.objects.exists() and not Persona.objects.exists()
    assert not Run.objects.exists()


def test_the_form_creates_the_study_population_and_run_together(browser, cces_question):
    response = browser.post("/", _form(cces_question))
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
    assert run.study.title == "Coverage" and run.population.size == 40


def test_the_cost_estimate_is_shown_before_the_run_and_leaves_nothing_behind(
    browser, cces_question, fake_llm, llm_env
):
    from decimal import Decimal

    from llm.services import model_price_set

    # Made-up figures for the test, not a provider's real price list.
    model_price_set(
        provider="openai",
        model="gpt-test",
        input_per_million=Decimal("1"),
        output_per_million=Decimal("4"),
        source="test fixture",
    )
    form = _form(
        cces_question,
        backend="llm",
        provider="openai",
        model="gpt-test",
        depth="shallow",
        action="estimate",
    )
    response = browser.post("/", form)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Estimated cost:" in page and "USD" in page
    assert not Study.objects.exists() and not Population.objects.exists()
    assert fake_llm.requests == []  # an estimate calls no model


def test_the_llm_backend_needs_a_provider_and_a_model(browser, cces_question):
    response = browser.post("/", _form(cces_question, backend="llm"))
    page = response.content.decode()
    assert "Choose the provider" in page and "Name the model" in page
    assert not Run.objects.exists()


# --- a new population above POPULATION_INLINE_MAX: built off the request, the run held for it ---


@pytest.fixture
def small_inline_max(settings):
    settings.POPULATION_INLINE_MAX = 50


def _held_page(client, population) -> str:
    response = client.get(f"/populations/{population.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_large_new_population_is_built_off_the_request_and_its_held_run_starts_when_ready(
    browser, user, cces_question, small_inline_max, django_capture_on_commit_callbacks
):
    from django.test import Client

    from personas.tasks import population_build_task

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post("/", _form(cces_question, size=60, budget="5"))
    population = Population.objects.get()
    assert response.status_code == 302 and response.url == f"/populations/{population.pk}/"
    # The request drew nothing: the population is queued and its build dispatched after commit.
    assert population.status == "queued" and population.size == 60
    assert not Persona.objects.exists() and not Run.objects.exists()
    assert len(callbacks) == 1
    held = HeldRun.objects.get()
    assert (held.study.title, held.backend, str(held.budget)) == (
        "Coverage",
        "poll_model",
        "5.0000",
    )

    # Stored on the server, not in this browser: another device of the same user sees it.
    other_device = Client()
    other_device.force_login(user)
    for client in (browser, other_device):
        page = _held_page(client, population)
        assert 'data-status="queued"' in page and "0 of 60 personas" in page
        assert f'id="held-run-{held.id}" data-status="held"' in page
        assert "It starts by itself once the population is ready" in page
        assert "held-run-cancel" in page and "held-run-start" not in page

    with django_capture_on_commit_callbacks(execute=True):  # the held run's run, inline here
        assert population_build_task(population.pk) == "ready"  # the worker
    run = Run.objects.get()
    assert run.population_id == population.pk and run.study.title == "Coverage"
    assert run.backend == "poll_model" and str(run.budget) == "5.0000"
    assert run.status == "completed" and run.personas_done == 60
    page = _held_page(other_device, population)
    assert f'id="held-run-{held.id}" data-status="started"' in page
    assert f'href="/runs/{run.id}/"' in page and "held-run-cancel" not in page


def test_the_form_refuses_at_once_a_run_the_backend_would_refuse_after_the_build(
    browser, cces_question, small_inline_max, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY_FILE", raising=False)
    form = _form(cces_question, size=60, backend="llm", provider="openai", model="gpt-test")
    response = browser.post("/", form)
    assert response.status_code == 400
    assert "No API key for openai: set OPENAI_API_KEY" in response.content.decode()
    assert not Study.objects.exists() and not Population.objects.exists()
    assert not HeldRun.objects.exists()


def test_a_held_run_left_waiting_on_a_ready_population_can_be_started_from_its_page(
    browser, cces_question, small_inline_max, django_capture_on_commit_callbacks
):
    from personas.tasks import population_build_task

    with django_capture_on_commit_callbacks(execute=False):
        browser.post("/", _form(cces_question, size=60))
        # The build's process stopped before its after-commit work started the run.
        population_build_task(Population.objects.get().pk)
    population, held = Population.objects.get(), HeldRun.objects.get()
    page = _held_page(browser, population)
    assert population.status == "ready" and "the run is being started" in page
    assert "held-run-start" in page
    with django_capture_on_commit_callbacks(execute=True):
        started = browser.post(f"/populations/{population.pk}/held-runs/{held.id}/start/")
    run = Run.objects.get()
    assert started.status_code == 302 and started.url == f"/runs/{run.id}/"
    assert run.status == "completed" and run.personas_done == 60
    # Started once: asking again leads to the same run.
    again = browser.post(f"/populations/{population.pk}/held-runs/{held.id}/start/")
    assert again.url == f"/runs/{run.id}/" and Run.objects.count() == 1


def test_the_held_run_cannot_be_started_by_hand_before_the_population_is_built(
    browser, cces_question, small_inline_max, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        browser.post("/", _form(cces_question, size=60))
    population, held = Population.objects.get(), HeldRun.objects.get()
    response = browser.post(f"/populations/{population.pk}/held-runs/{held.id}/start/")
    assert response.status_code == 409
    assert f"Population {population.pk} is still being built" in response.content.decode()
    assert not Run.objects.exists()
    held.refresh_from_db()
    assert held.status == "held"


def test_a_held_run_cancelled_while_the_population_builds_never_starts(
    browser, cces_question, small_inline_max, django_capture_on_commit_callbacks
):
    from personas.tasks import population_build_task

    with django_capture_on_commit_callbacks(execute=False):
        browser.post("/", _form(cces_question, size=60))
    population, held = Population.objects.get(), HeldRun.objects.get()
    response = browser.post(f"/populations/{population.pk}/held-runs/{held.id}/cancel/")
    assert response.status_code == 302 and response.url == f"/populations/{population.pk}/"
    assert not HeldRun.objects.exists() and "held-run-" not in _held_page(browser, population)
    with django_capture_on_commit_callbacks(execute=True):
        assert population_build_task(population.pk) == "ready"
    assert not Run.objects.exists()
    gone = browser.post(f"/populations/{population.pk}/held-runs/{held.id}/cancel/")
    assert gone.status_code == 404


def test_a_held_run_that_has_started_is_not_cancelled_from_the_population_page(
    browser, cces_question, small_inline_max, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/", _form(cces_question, size=60))
    population, held = Population.objects.get(), HeldRun.objects.get()
    response = browser.post(f"/populations/{population.pk}/held-runs/{held.id}/cancel/")
    assert response.status_code == 409
    assert "already started" in response.content.decode()
    held.refresh_from_db()
    assert held.status == "started" and held.run == Run.objects.get()


def test_another_users_held_run_is_a_404_and_staff_see_it(
    browser, stranger_browser, cces_question, small_inline_max,
    django_capture_on_commit_callbacks, django_user_model,
):  # fmt: skip
    from django.test import Client

    with django_capture_on_commit_callbacks(execute=False):
        browser.post("/", _form(cces_question, size=60))
    population, held = Population.objects.get(), HeldRun.objects.get()
    base = f"/populations/{population.pk}/held-runs/{held.id}"
    assert stranger_browser.get(f"/populations/{population.pk}/").status_code == 404
    assert stranger_browser.post(f"{base}/start/").status_code == 404
    assert stranger_browser.post(f"{base}/cancel/").status_code == 404
    held.refresh_from_db()
    assert held.status == "held" and not Run.objects.exists()
    staff = Client()
    staff.force_login(
        django_user_model.objects.create_user("ops", password="x-long-pass-2", is_staff=True)
    )
    assert f'id="held-run-{held.id}"' in _held_page(staff, population)


def test_a_large_new_population_cannot_be_priced_before_it_exists(
    browser, cces_question, small_inline_max
):
    response = browser.post("/", _form(cces_question, size=60, action="estimate"))
    assert response.status_code == 400
    assert "cannot be priced before it exists" in response.content.decode()
    assert not Study.objects.exists() and not Population.objects.exists()


def test_at_the_inline_maximum_the_form_still_builds_and_starts_in_the_request(
    browser, cces_question, small_inline_max
):
    response = browser.post("/", _form(cces_question, size=50))
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
    assert run.population.status == "ready" and run.population.personas.count() == 50
