"""The admin reads runs, populations and validation runs as tables, read-only, with links to the
pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from config.admin_tables import FOLD_ROWS, json_tables
from studies.models import Run
from studies.services import run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_superuser("curator", password="a-long-test-password")
    )
    return client


def _view_on_site(client, html: str) -> str:
    """Where the change page's "View on site" link leads (through the admin's redirect)."""
    (href,) = re.findall(r'<a href="([^"]+)" class="viewsitelink">', html)
    response = client.get(href)
    assert response.status_code == 302
    return urlsplit(response.url).path


@pytest.fixture
def finished_run(study, population, run_on_commit) -> Run:
    run = run_on_commit(
        run_start, study=study, population=population, seed=2, chunk_size=120, backend="poll_cell"
    )
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED and run.results
    return run


def test_a_runs_results_status_and_counts_are_read_only_tables(curator, finished_run):
    html = curator.get(f"/admin/studies/run/{finished_run.id}/change/").content.decode()
    results = html.split("field-results_tables", 1)[1].split('<div class="form-row', 1)[0]
    assert "<table>" in results and "{&quot;" not in results and '{"' not in results
    # Every option label of the item appears as a table cell, not inside JSON.
    for option in finished_run.study.items.get().options.all():
        assert f"<td>{option.label}</td>" in results or f">{option.label}<" in results
    for field in ("status", "personas_done", "personas_total", "results", "seed"):
        assert f'name="{field}"' not in html
    assert _view_on_site(curator, html) == f"/runs/{finished_run.id}/"


def test_the_run_changelist_is_short_and_adds_nothing(curator, finished_run):
    html = curator.get("/admin/studies/run/").content.decode()
    header = re.findall(r'<th scope="col" class="([^"]+)"', html)
    assert len(header) <= 7, header  # action checkbox + six columns
    assert f"{finished_run.personas_done} / {finished_run.personas_total}" in html
    assert curator.get("/admin/studies/run/add/").status_code == 403


def test_the_study_and_population_lead_to_their_pages(curator, finished_run):
    study = curator.get(f"/admin/studies/study/{finished_run.study_id}/change/").content.decode()
    assert _view_on_site(curator, study) == f"/studies/{finished_run.study_id}/"
    population = curator.get(
        f"/admin/personas/population/{finished_run.population_id}/change/"
    ).content.decode()
    assert _view_on_site(curator, population) == f"/populations/{finished_run.population_id}/"
    # Each area's validation table and the stored JSON are folded.
    assert population.count("<details>") >= 1 + len(finished_run.population.areas.all())


def test_held_runs_are_read_only_in_the_admin_and_lead_to_their_population_page(
    curator, study, population
):
    from studies.services.held_runs import held_run_create

    held = held_run_create(
        study=study,
        population=population,
        backend="poll_model",
        backend_config={},
        budget=None,
        seed=9,
        created_by=study.created_by,
    )
    listing = curator.get("/admin/studies/heldrun/")
    assert listing.status_code == 200 and f"/admin/studies/heldrun/{held.id}/change/" in (
        listing.content.decode()
    )
    html = curator.get(f"/admin/studies/heldrun/{held.id}/change/").content.decode()
    for field in ("status", "seed", "budget", "backend_config", "run"):
        assert f'name="{field}"' not in html, field
    assert '<div class="readonly">9</div>' in html  # the seed, shown
    assert curator.get("/admin/studies/heldrun/add/").status_code == 403
    assert _view_on_site(curator, html) == f"/populations/{population.id}/"


def test_validation_metrics_are_folded_tables(curator):
    from polls.models import Question
    from validation.services import validation_run_holdout

    question = Question.objects.get(poll__slug="anes-1996", code="self-placement-left-right")
    holdout = validation_run_holdout(question=question, seed=1)
    html = curator.get(f"/admin/validation/validationrun/{holdout.id}/change/").content.decode()
    metrics = html.split("field-metrics_tables", 1)[1]
    assert metrics.lstrip().find("<details>") != -1 and "<table>" in metrics
    assert 'name="metrics"' not in html
    listing = curator.get("/admin/validation/validationrun/").content.decode()
    assert "anes-1996: self-placement-left-right" in listing


def test_json_tables_escape_make_record_tables_and_fold_long_ones():
    records = [{"option": f"<b>{i}</b>", "share": i / 3} for i in range(FOLD_ROWS + 1)]
    html = str(json_tables({"overall": records, "n": 3, "note": None}))
    assert "<b>" not in html and "&lt;b&gt;0&lt;/b&gt;" in html
    assert "<th>option</th><th>share</th>" in html
    assert f"<summary>{FOLD_ROWS + 1} rows</summary>" in html
    assert "<td>0.3333</td>" in html and "<td>—</td>" in html
    short = str(json_tables([{"a": 1}, {"b": 2}]))
    assert "<details>" not in short and "<th>a</th><th>b</th>" in short
