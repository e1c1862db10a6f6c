from __future__ import annotations

import pytest

from config.errors import DomainError
from personas.models import Persona, Population
from studies.forms import StudyStartForm
from studies.models import Run, Study
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


# --- a new population above POPULATION_INLINE_MAX: built off the request, the run offered after --


@pytest.fixture
def small_inline_max(settings):
    settings.POPULATION_INLINE_MAX = 50


def test_a_large_new_population_is_built_off_the_request_and_the_run_offered_when_ready(
    browser, cces_question, small_inline_max, django_capture_on_commit_callbacks
):
    from personas.tasks import population_build_task

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post("/", _form(cces_question, size=60, budget="5"))
    population = Population.objects.get()
    assert response.status_code == 302 and response.url == f"/populations/{population.pk}/"
    # The request drew nothing: the population is queued and its build dispatched after commit.
    assert population.status == "queued" and population.size == 60
    assert not Persona.objects.exists() and not Run.objects.exists()
    assert len(callbacks) == 1
    assert Study.objects.get().title == "Coverage"

    page = browser.get(response.url).content.decode()
    assert 'data-status="queued"' in page and "0 of 60 personas" in page
    assert 'id="pending-run"' in page and "It can start once the population is ready" in page
    assert "pending-run-start" not in page

    assert population_build_task(population.pk) == "ready"  # the worker
    page = browser.get(response.url).content.decode()
    assert "The population is ready." in page and 'id="pending-run-start"' in page

    with django_capture_on_commit_callbacks(execute=True):  # the run's chunks, inline here
        started = browser.post(f"/populations/{population.pk}/run/")
    run = Run.objects.get()
    assert started.status_code == 302 and started.url == f"/runs/{run.id}/"
    assert run.population_id == population.pk and run.study.title == "Coverage"
    assert run.backend == "poll_model" and str(run.budget) == "5.0000"
    assert run.status == "completed" and run.personas_done == 60
    # Started once: the held run is gone from the session and the page offers it no more.
    assert browser.post(f"/populations/{population.pk}/run/").status_code == 404
    assert 'id="pending-run"' not in browser.get(response.url).content.decode()


def test_the_held_run_cannot_start_before_the_population_is_built(
    browser, cces_question, small_inline_max, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        browser.post("/", _form(cces_question, size=60))
    population = Population.objects.get()
    response = browser.post(f"/populations/{population.pk}/run/")
    assert response.status_code == 409
    assert f"Population {population.pk} is still being built" in response.content.decode()
    assert not Run.objects.exists()


def test_the_held_run_is_another_users_404(
    browser, stranger_browser, cces_question, small_inline_max, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/", _form(cces_question, size=60))
    population = Population.objects.get()
    assert population.status == "ready"
    assert stranger_browser.post(f"/populations/{population.pk}/run/").status_code == 404
    assert stranger_browser.get(f"/populations/{population.pk}/").status_code == 404
    assert not Run.objects.exists()


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
