"""The list pages, the study page and the study form, as a signed-in user sees them."""

from __future__ import annotations

import re

import pytest

from environment.models import Area
from environment.selectors import area_usability
from personas.models import Population, PopulationArea
from polls.models import Option, Poll, Question
from studies.forms import ITEM_SLOTS
from studies.models import Run, Study
from studies.services import ItemSpec, study_create
from studies.views import PAGE_SIZE
from tests.conftest import DEMO_AREAS

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def stranger(client, django_user_model):
    from django.test import Client

    other = Client()
    other.force_login(django_user_model.objects.create_user("stranger", password="x-long-pass-1"))
    return other


@pytest.fixture
def staff(django_user_model):
    from django.test import Client

    client = Client()
    client.force_login(
        django_user_model.objects.create_user("operator", password="x-long-pass-2", is_staff=True)
    )
    return client


def _population(user, name="Four cities", area="dallas_tx_city") -> Population:
    population = Population.objects.create(name=name, size=40, seed=1, created_by=user)
    PopulationArea.objects.create(population=population, area_id=area, weight=1, personas=40)
    return population


def _run(study, population, status=Run.Status.COMPLETED, **kw) -> Run:
    return Run.objects.create(
        study=study,
        population=population,
        backend="poll_model",
        seed=1,
        status=status,
        personas_total=40,
        personas_done=40 if status == Run.Status.COMPLETED else 0,
        chunk_size=10,
        created_by=study.created_by,
        **kw,
    )


def _rows(html: str, table_id: str) -> list[str]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)[1:]  # without the header


def _study(user, title="Employer coverage", question=None) -> Study:
    items = []
    if question is not None:
        items = [ItemSpec(code="coverage", text=question.text, poll_question_id=question.id)]
    if not items:
        return Study.objects.create(title=title, created_by=user)
    return study_create(title=title, items=items, created_by=user)


# --- the header ---------------------------------------------------------------------------------


def test_the_header_leads_to_the_lists_and_the_form(browser):
    html = browser.get("/studies/").content.decode()
    header = html.split("<header>", 1)[1].split("</header>", 1)[0]
    for href, text in [
        ("/studies/", "Studies"),
        ("/runs/", "Runs"),
        ("/populations/", "Populations"),
        ("/studies/new/", "New study"),
    ]:
        assert f'href="{href}"' in header and text in header
    assert 'href="/studies/" aria-current="page"' in header


# --- the list pages -------------------------------------------------------------------------------


def test_the_studies_page_pages_its_rows_and_counts_items_and_runs(browser, user, cces_question):
    study = _study(user, "Coverage with runs", cces_question)
    population = _population(user)
    _run(study, population)
    _run(study, population, status=Run.Status.FAILED)
    for i in range(PAGE_SIZE):
        Study.objects.create(title=f"Filler {i:02}", created_by=user)
    first = browser.get("/studies/").content.decode()
    assert len(_rows(first, "study-list")) == PAGE_SIZE
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = browser.get("/studies/?page=2").content.decode()
    (row,) = _rows(second, "study-list")  # the oldest: the study with runs
    assert f'href="/studies/{study.id}/"' in row
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["1", "2"]  # items, runs


def test_the_studies_page_searches_titles_and_keeps_the_search_across_pages(browser, user):
    for i in range(PAGE_SIZE + 1):
        Study.objects.create(title=f"Housing {i:02}", created_by=user)
    Study.objects.create(title="Transit fares", created_by=user)
    html = browser.get("/studies/?q=transit").content.decode()
    rows = _rows(html, "study-list")
    assert len(rows) == 1 and "Transit fares" in rows[0]
    housing = browser.get("/studies/?q=housing").content.decode()
    assert "?q=housing&amp;page=2" in housing
    assert "No study matches" in browser.get("/studies/?q=zzz").content.decode()


def test_the_lists_show_only_the_users_own_work_and_staff_see_all(
    browser, stranger, staff, user, cces_question
):
    study = _study(user, "Mine only", cces_question)
    population = _population(user, name="My four cities")
    run = _run(study, population)
    for client, sees in [(browser, True), (stranger, False), (staff, True)]:
        studies = client.get("/studies/").content.decode()
        populations = client.get("/populations/").content.decode()
        runs = client.get("/runs/").content.decode()
        assert ("Mine only" in studies) is sees
        assert ("My four cities" in populations) is sees
        assert (f'href="/runs/{run.id}/"' in runs) is sees
    assert stranger.get(f"/studies/{study.id}/").status_code == 404
    assert staff.get(f"/studies/{study.id}/").status_code == 200


def test_the_pages_ask_for_a_login(client):
    for url in ["/studies/", "/runs/", "/populations/", "/studies/new/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_populations_page_lists_areas_and_searches_them(browser, user):
    _population(user, name="Texas sample", area="dallas_tx_city")
    _population(user, name="Michigan sample", area="detroit_mi_city")
    html = browser.get("/populations/").content.decode()
    rows = _rows(html, "population-list")
    assert len(rows) == 2
    michigan = next(r for r in rows if "Michigan sample" in r)
    assert "Detroit" in michigan and ", MI" in michigan and '<td class="num">40</td>' in michigan
    found = _rows(browser.get("/populations/?q=detroit").content.decode(), "population-list")
    assert len(found) == 1 and "Michigan sample" in found[0]


def test_the_runs_page_filters_by_status_and_searches(browser, user, cces_question):
    population = _population(user, name="Metro sample")
    done = _run(_study(user, "Coverage", cces_question), population)
    failed = _run(_study(user, "Fares"), population, status=Run.Status.FAILED)
    html = browser.get("/runs/?status=failed").content.decode()
    rows = _rows(html, "run-list")
    assert len(rows) == 1 and f"#{failed.id}" in rows[0] and "Failed" in rows[0]
    assert f'href="/studies/{failed.study_id}/"' in rows[0]
    assert f'href="/populations/{population.id}/"' in rows[0]
    searched = _rows(browser.get("/runs/?q=coverage").content.decode(), "run-list")
    assert len(searched) == 1 and f"#{done.id}" in searched[0]
    by_id = _rows(browser.get(f"/runs/?q=%23{failed.id}").content.decode(), "run-list")
    assert len(by_id) == 1 and f"#{failed.id}" in by_id[0]


def test_an_unknown_run_status_is_refused_with_the_valid_ones(browser):
    response = browser.get("/runs/?status=sleeping")
    assert response.status_code == 400
    html = response.content.decode()
    assert "no run status &#x27;sleeping&#x27;" in html and "completed" in html


# --- the study page ---------------------------------------------------------------------------


def test_the_study_page_shows_items_options_and_runs(browser, user, cces_question):
    study = _study(user, "Coverage", cces_question)
    population = _population(user)
    run = _run(study, population)
    other = _run(_study(user, "Another"), population)
    html = browser.get(f"/studies/{study.id}/").content.decode()
    (item,) = _rows(html, "study-items")
    assert "coverage" in item and "Single choice" in item
    for option in cces_question.options.all():
        assert option.label in item
    runs = _rows(html, "study-runs")
    assert len(runs) == 1 and f'href="/runs/{run.id}/"' in runs[0]
    assert f"/runs/{other.id}/" not in html
    assert "None: every participant sees the same items." in html


def test_a_study_runs_again_on_an_existing_population(browser, user, cces_question):
    from personas.services import AreaWeight, population_create

    study = _study(user, "Coverage", cces_question)
    population = population_create(
        size=30, areas=[AreaWeight("dallas_tx_city")], seed=3, created_by=user
    )
    page = browser.get(f"/studies/{study.id}/").content.decode()
    assert 'id="run-again"' in page
    response = browser.post(
        f"/studies/{study.id}/run/", {"population": population.id, "backend": "poll_cell"}
    )
    run = Run.objects.get(study=study)
    assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
    assert run.population == population and run.backend == "poll_cell"


def test_running_again_on_someone_elses_population_is_refused(
    browser, user, cces_question, django_user_model
):
    study = _study(user, "Coverage", cces_question)
    theirs = _population(django_user_model.objects.create_user("other", password="x-long-3"))
    response = browser.post(f"/studies/{study.id}/run/", {"population": theirs.id})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Run.objects.exists()


def test_a_population_still_being_built_is_not_offered_to_run_on(browser, user, cces_question):
    study = _study(user, "Coverage", cces_question)
    ready = _population(user, name="Built")
    building = _population(user, name="Half built")
    Population.objects.filter(pk=building.pk).update(status=Population.Status.BUILDING)
    for url in (f"/studies/{study.id}/", "/studies/new/"):
        html = browser.get(url).content.decode()
        # The choice's label: "<name> — <size> personas (#<id>)"
        assert f"(#{ready.id})" in html, url
        assert f"(#{building.id})" not in html, url
    response = browser.post(f"/studies/{study.id}/run/", {"population": building.id})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Run.objects.exists()


# --- the study form -----------------------------------------------------------------------------


@pytest.fixture
def topline_question() -> Question:
    """A question with published shares and no respondents: the offline backends refuse it."""
    poll = Poll.objects.create(
        slug="toplines-only", title="Toplines only", pollster="Test", year=2020, population="US"
    )
    question = Question.objects.create(poll=poll, code="approve", text="Approve?")
    Option.objects.create(question=question, code="yes", label="Yes", order=0)
    Option.objects.create(question=question, code="no", label="No", order=1)
    return question


def test_the_form_offers_only_answerable_questions_grouped_by_poll(
    browser, cces_question, topline_question
):
    html = browser.get("/studies/new/").content.decode()
    first = html.split('id="id_question"', 1)[1].split("</select>", 1)[0]
    poll = cces_question.poll
    assert f'<optgroup label="{poll.title} ({poll.year}, {poll.country})">' in first
    assert f'value="{cces_question.id}"' in first
    assert f'value="{topline_question.id}"' not in html
    # The rule is the offline backends': they refuse the question the form leaves out.
    from studies.backends.poll_model import PollModelBackend

    study = study_create(
        title="Toplines",
        items=[ItemSpec(code="a", text="Approve?", poll_question_id=topline_question.id)],
    )
    assert "no respondent answers" in " ".join(PollModelBackend.study_problems(study))
    assert html.count('name="question"') == ITEM_SLOTS


def test_the_form_offers_no_area_that_cannot_hold_a_population(browser):
    html = browser.get("/studies/new/").content.decode()
    areas = html.split('id="id_areas"', 1)[1].split("</select>", 1)[0]
    offered = set(re.findall(r'value="([a-z0-9_]+)"', areas))
    usable = set(area_usability().filter(usable=True).values_list("id", flat=True))
    assert offered == usable
    assert not any(a.endswith("_county") for a in offered)  # no county has marginals
    assert "the_villages_fl_city" not in offered
    assert set(DEMO_AREAS) <= offered


def test_a_study_with_two_items_on_a_new_population(browser, cces_question):
    second = Question.objects.get(poll__slug="anes-1996", code="self-placement-left-right")
    response = browser.post(
        "/studies/new/",
        {
            "title": "Two items",
            "question": [cces_question.id, "", second.id],
            "areas": DEMO_AREAS,
            "size": 40,
        },
    )
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
    items = list(run.study.items.order_by("order"))
    assert [i.poll_question_id for i in items] == [cces_question.id, second.id]
    assert run.population.size == 40


def test_a_study_on_an_existing_population_draws_no_new_one(browser, user, cces_question):
    from personas.services import AreaWeight, population_create

    population = population_create(
        size=30, areas=[AreaWeight("detroit_mi_city")], seed=4, created_by=user
    )
    html = browser.get("/studies/new/").content.decode()
    assert f'<option value="{population.id}">' in html
    response = browser.post(
        "/studies/new/",
        {"title": "Reuse", "question": [cces_question.id], "population": population.id},
    )
    run = Run.objects.get()
    assert response.status_code == 302
    assert run.population == population and Population.objects.count() == 1


def test_the_form_names_what_is_missing_or_repeated(browser, cces_question):
    response = browser.post(
        "/studies/new/", {"title": "Bad", "question": [cces_question.id, cces_question.id]}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "chosen for more than one item" in html
    assert "Choose at least one area, or choose a population." in html
    assert "Give the new population&#x27;s size" in html
    # The choices stay selected in the first two selects after the error.
    assert html.count(f'<option value="{cces_question.id}" selected>') == 2
    assert not Study.objects.exists()


def test_an_area_the_form_does_not_offer_is_refused_with_its_name(browser, cces_question):
    county = Area.objects.filter(kind=Area.Kind.COUNTY).order_by("id").first()
    response = browser.post(
        "/", {"title": "County", "question": cces_question.id, "areas": [county.id], "size": 10}
    )
    html = response.content.decode()
    assert "Select a valid choice" in html and county.id in html
    assert not Population.objects.exists()


def test_the_llm_fields_sit_in_their_own_fieldset_and_estimate_is_secondary(browser):
    html = browser.get("/studies/new/").content.decode()
    llm = html.split('id="llm-fields"', 1)[1].split("</fieldset>", 1)[0]
    for name in ("provider", "model", "base_url", "depth", "budget"):
        assert f'name="{name}"' in llm
    assert 'name="backend"' not in llm
    assert 'value="estimate" class="secondary"' in html
    assert "Estimating…" in html and "Starting…" in html
