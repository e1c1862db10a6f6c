"""A completed run's results JSON is rendered once per version of the stored results and cached
(in Redis, and in each web process that served it); ownership is checked on every request, before
either cache is read."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from accounts.models import Token
from studies.models import Run
from studies.selectors import run_list, run_results_state
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


def test_the_body_is_the_stored_results_rendered_byte_for_byte(api, completed_run):
    expected = JSONRenderer().render(completed_run.results)
    for _ in range(3):  # rendered, then from the shared cache or this process's
        assert api.get(_url(completed_run)).content == expected


def test_results_this_process_served_need_only_the_access_check(api, completed_run):
    first = api.get(_url(completed_run))
    cache.clear()  # the shared cache loses everything (the token's resolution too)
    with CaptureQueriesContext(connection) as queries:
        second = api.get(_url(completed_run))
    assert second.status_code == 200 and second.content == first.content
    # The token is this process's too: the one query is the run's access and version.
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert "results" in queries[0]["sql"] and "accounts_token" not in queries[0]["sql"]


def test_results_kept_for_the_owner_never_reach_another_user(api, other_api, completed_run):
    assert api.get(_url(completed_run)).status_code == 200
    for _ in range(2):
        response = other_api.get(_url(completed_run))
        assert response.status_code == 404
        assert b"items" not in response.content


def test_staff_read_the_same_bytes_the_owner_does(api, completed_run, django_user_model):
    owner = api.get(_url(completed_run)).content
    staff = django_user_model.objects.create_user(
        "staff-member", password="staff-password-12", is_staff=True
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    assert client.get(_url(completed_run)).content == owner


@pytest.mark.parametrize("who", ["owner", "other", "staff", "inactive staff", "anonymous"])
def test_the_access_check_lets_see_what_run_list_does(who, completed_run, django_user_model):
    users = {
        "owner": completed_run.created_by,
        "other": django_user_model.objects.create_user("other-1", password="x" * 20),
        "staff": django_user_model.objects.create_user("staff-1", password="x" * 20, is_staff=True),
        "inactive staff": django_user_model.objects.create_user(
            "staff-2", password="x" * 20, is_staff=True, is_active=False
        ),
        "anonymous": AnonymousUser(),
    }
    user = users[who]
    visible = run_list(user=user).filter(pk=completed_run.id).exists()
    state = run_results_state(user=user, run_id=completed_run.id)
    assert (state is not None) == visible == (who in ("owner", "staff"))
    if state is not None:
        assert state.status == Run.Status.COMPLETED and state.ready


def test_the_access_check_says_when_there_are_no_results_yet(completed_run):
    Run.objects.filter(id=completed_run.id).update(results=None, status=Run.Status.RUNNING)
    state = run_results_state(user=completed_run.created_by, run_id=completed_run.id)
    assert state is not None and state.status == Run.Status.RUNNING and not state.ready
    assert run_results_state(user=completed_run.created_by, run_id=completed_run.id + 999) is None
