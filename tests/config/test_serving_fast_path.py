"""The hot read paths authenticate a token without a query, and nothing it caches outlives a
revocation: a replaced or deleted token, or a deactivated user, stops working on the next request
in the process that made the change, and in any other within AUTH_PROCESS_CACHE_SECONDS."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, Token
from accounts.services import (
    api_key_create,
    api_key_revoke,
    token_authenticate,
    token_cache_key,
    token_create,
    token_digest,
)

pytestmark = pytest.mark.django_db

AREA_CONTEXT = "/api/v1/environmental/context/dallas_tx_city/"


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_repeated_request_authenticates_without_a_query(user):
    _, key = token_create(user=user)
    client = _client(key)
    assert client.get(AREA_CONTEXT).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(AREA_CONTEXT)
    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if "accounts_token" in q["sql"]]


def test_a_replaced_token_stops_working_at_once(user):
    _, old = token_create(user=user)
    assert _client(old).get(AREA_CONTEXT).status_code == 200
    _, new = token_create(user=user)
    assert _client(old).get(AREA_CONTEXT).status_code == 401
    assert _client(new).get(AREA_CONTEXT).status_code == 200


def test_a_deleted_token_stops_working_at_once(user):
    _, key = token_create(user=user)
    assert _client(key).get(AREA_CONTEXT).status_code == 200
    Token.objects.filter(user=user).delete()
    assert _client(key).get(AREA_CONTEXT).status_code == 401


def test_a_deactivated_user_is_refused_at_once(user):
    _, key = token_create(user=user)
    assert _client(key).get(AREA_CONTEXT).status_code == 200
    user.is_active = False
    user.save()
    response = _client(key).get(AREA_CONTEXT)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_a_user_made_staff_is_seen_as_staff_on_the_next_request(user):
    _, key = token_create(user=user)
    client = _client(key)
    assert client.get(AREA_CONTEXT).status_code == 200
    user.is_staff = True
    user.save()
    # The cached resolution was dropped: the next request reads the user again.
    with CaptureQueriesContext(connection) as queries:
        client.get(AREA_CONTEXT)
    assert [q for q in queries.captured_queries if "accounts_token" in q["sql"]]


# --- what a web process keeps of the credentials it verified (AUTH_PROCESS_CACHE_SECONDS) -------


def test_a_token_verified_by_this_process_costs_no_shared_cache_or_database_read(user):
    _, key = token_create(user=user)
    client = _client(key)
    assert client.get(AREA_CONTEXT).status_code == 200
    # Gone from the shared cache: only this process's copy can answer without a query.
    cache.delete(token_cache_key(token_digest(key)))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(AREA_CONTEXT).status_code == 200
    assert not [q for q in queries.captured_queries if "accounts_token" in q["sql"]]


def test_a_token_revoked_by_another_process_stops_here_within_the_bound(user, settings):
    settings.AUTH_PROCESS_CACHE_SECONDS = 0.3
    _, key = token_create(user=user)
    client = _client(key)
    assert client.get(AREA_CONTEXT).status_code == 200
    # What another web process's revocation leaves here: the row and the shared cache's entry
    # are gone (its signal ran there), this process's copy is not.
    Token.objects.filter(user=user).update(digest="revoked-elsewhere")
    cache.delete(token_cache_key(token_digest(key)))
    assert client.get(AREA_CONTEXT).status_code == 200
    time.sleep(0.35)
    assert client.get(AREA_CONTEXT).status_code == 401


def test_with_no_process_lifetime_a_revocation_elsewhere_stops_the_next_request(user, settings):
    settings.AUTH_PROCESS_CACHE_SECONDS = 0
    _, key = token_create(user=user)
    client = _client(key)
    assert client.get(AREA_CONTEXT).status_code == 200
    Token.objects.filter(user=user).update(digest="revoked-elsewhere")
    cache.delete(token_cache_key(token_digest(key)))
    assert client.get(AREA_CONTEXT).status_code == 401


def test_each_token_resolves_to_its_own_user(user, django_user_model):
    other = django_user_model.objects.create_user("other", password="x" * 20)
    _, mine = token_create(user=user)
    _, theirs = token_create(user=other)
    for _ in range(2):  # the second time from this process's cache
        assert token_authenticate(mine).user == user
        assert token_authenticate(theirs).user == other


def test_an_api_key_verified_by_this_process_costs_no_query(user):
    _, secret = api_key_create(user=user, name="job", scope="read")
    client = _bearer(secret)
    assert client.get(AREA_CONTEXT).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(AREA_CONTEXT).status_code == 200
    assert not [q for q in queries.captured_queries if "accounts_apikey" in q["sql"]]


def test_a_kept_api_key_still_needs_its_secret(user):
    key, secret = api_key_create(user=user, name="job")
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 200
    forged = f"pl_{key.prefix}_{'x' * 43}"
    assert _bearer(forged).get(AREA_CONTEXT).status_code == 401
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 200


def test_a_kept_api_key_stops_at_its_expiry_not_at_the_end_of_its_lifetime(user, settings):
    settings.AUTH_PROCESS_CACHE_SECONDS = 60
    _, secret = api_key_create(
        user=user, name="short", expires_at=timezone.now() + timedelta(seconds=0.5)
    )
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 200
    time.sleep(0.6)
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 401


def test_an_api_key_revoked_here_stops_at_once(user):
    key, secret = api_key_create(user=user, name="job")
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 200
    api_key_revoke(key=key, actor=user)
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 401


def test_an_api_key_revoked_by_another_process_stops_here_within_the_bound(user, settings):
    settings.AUTH_PROCESS_CACHE_SECONDS = 0.3
    key, secret = api_key_create(user=user, name="job")
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())  # no signal here
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 200
    time.sleep(0.35)
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 401


def test_a_user_deactivated_here_loses_their_kept_api_key_at_once(user):
    _, secret = api_key_create(user=user, name="job")
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 200
    user.is_active = False
    user.save()
    assert _bearer(secret).get(AREA_CONTEXT).status_code == 401
