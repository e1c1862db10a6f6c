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
