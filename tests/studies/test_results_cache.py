"""A completed run's results JSON is rendered once per version of the stored results and cached;
ownership is checked on every request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Token
from studies.models import Run
from studies.services import run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed_run(study, population, user, django_capture_on_commit_callbacks) -> Run:
    with django_capture_on_commit_callbacks(execute=True):
        run = run_start(study=study, population=population, seed=3, created_by=user)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED and run.results
    return run


@pytest.fixture
def other_api(django_user_model) -> APIClient:
    other = django_user_model.objects.create_user("other-analyst", password="another-password-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    return client


def _url(run: Run) -> str:
    return f"/api/v1/runs/{run.id}/results/"


def test_cached_results_are_the_stored_ones_and_cost_one_query(api, completed_run):
    first = api.get(_url(completed_run))
    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    assert first.json() == completed_run.results
    with CaptureQueriesContext(connection) as queries:
        second = api.get(_url(completed_run))
    assert second.status_code == 200 and second.content == first.content
    # The run among the caller's with a digest of its results (not the results); the token's
    # resolution comes from the cache.
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_another_users_request_is_a_404_even_when_the_results_are_cached(
    api, other_api, completed_run
):
    assert api.get(_url(completed_run)).status_code == 200  # now cached
    response = other_api.get(_url(completed_run))
    assert response.status_code == 404
    assert "items" not in response.json()
    assert response.json()["error"]["code"] == "not_found"


def test_changed_results_are_served_at_once(api, completed_run):
    assert api.get(_url(completed_run)).json() == completed_run.results
    changed = {**completed_run.results, "personas_answered": 1}
    Run.objects.filter(id=completed_run.id).update(results=changed)
    assert api.get(_url(completed_run)).json() == changed
    Run.objects.filter(id=completed_run.id).update(results=completed_run.results)
    assert api.get(_url(completed_run)).json() == completed_run.results


def test_results_removed_are_not_served_from_the_cache(api, completed_run):
    assert api.get(_url(completed_run)).status_code == 200
    Run.objects.filter(id=completed_run.id).update(results=None, status=Run.Status.RUNNING)
    response = api.get(_url(completed_run))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "results_not_ready"


def test_csv_results_are_still_a_table(api, completed_run):
    api.get(_url(completed_run))
    response = api.get(_url(completed_run), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
