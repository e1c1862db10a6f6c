"""The hot read paths authenticate a token without a query, and nothing it caches outlives a
revocation: a replaced or deleted token, or a deactivated user, stops working on the next request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Token
from accounts.services import token_create

pytestmark = pytest.mark.django_db

AREA_CONTEXT = "/api/v1/environmental/context/dallas_tx_city/"


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
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
