"""API keys: issued once, hashed at rest, scoped, revocable, and accepted as a Bearer token."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditEvent
from accounts.services import api_key_create

pytestmark = pytest.mark.django_db

POPULATION = {"size": 5, "areas": [{"area": "phoenix_az_city"}], "seed": 1}


def _bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_key_is_shown_once_and_stored_only_as_a_hash(api, user):
    response = api.post("/api/v1/keys/", {"name": "laptop", "scope": "run"}, format="json")
    assert response.status_code == 201
    body = response.json()
    secret = body["key"]
    assert secret.startswith("pl_") and body["scope"] == "run" and body["active"] is True
    stored = ApiKey.objects.get(id=body["id"])
    assert secret not in str(stored.__dict__)
    assert stored.hashed_secret == hashlib.sha256(secret.split("_", 2)[2].encode()).hexdigest()
    listed = api.get("/api/v1/keys/").json()["results"]
    assert [k["name"] for k in listed] == ["laptop"] and "key" not in listed[0]
    assert AuditEvent.objects.filter(action="key_create", actor=user).count() == 1


def test_a_bearer_key_authenticates_and_records_its_use(user):
    key, secret = api_key_create(user=user, name="job", scope="run")
    assert key.last_used_at is None
    response = _bearer(secret).get("/api/v1/populations/")
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    "secret",
    ["pl_nothere_xyz", "pl_", "not-a-key", "pl_abc"],
)
def test_an_unknown_key_is_a_401_that_says_what_to_do(secret):
    response = _bearer(secret).get("/api/v1/populations/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "unknown, revoked or expired" in response.json()["error"]["message"]


def test_a_wrong_secret_with_a_real_prefix_is_refused(user):
    key, secret = api_key_create(user=user, name="job")
    forged = f"pl_{key.prefix}_{'x' * 43}"
    assert _bearer(forged).get("/api/v1/populations/").status_code == 401
    assert _bearer(secret).get("/api/v1/populations/").status_code == 200


def test_a_revoked_key_stops_working_and_stays_listed(api, user):
    key, secret = api_key_create(user=user, name="old")
    assert api.delete(f"/api/v1/keys/{key.id}/").status_code == 200
    assert _bearer(secret).get("/api/v1/populations/").status_code == 401
    listed = api.get("/api/v1/keys/").json()["results"][0]
    assert listed["active"] is False and listed["revoked_at"]
    assert AuditEvent.objects.filter(action="key_revoke", object_id=str(key.id)).exists()


def test_an_expired_key_stops_working(user):
    key, secret = api_key_create(
        user=user, name="short", expires_at=timezone.now() + timedelta(minutes=1)
    )
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _bearer(secret).get("/api/v1/populations/").status_code == 401


def test_a_read_key_reads_but_cannot_start_work(user):
    _, secret = api_key_create(user=user, name="dashboard", scope="read")
    client = _bearer(secret)
    assert client.get("/api/v1/populations/").status_code == 200
    response = client.post("/api/v1/populations/", POPULATION, format="json")
    assert response.status_code == 403
    assert "read scope" in response.json()["error"]["message"]


def test_a_run_key_starts_work_but_cannot_manage_keys(user):
    _, secret = api_key_create(user=user, name="job", scope="run")
    client = _bearer(secret)
    assert client.post("/api/v1/populations/", POPULATION, format="json").status_code == 201
    response = client.post("/api/v1/keys/", {"name": "escalate", "scope": "admin"}, format="json")
    assert response.status_code == 403
    assert "admin scope" in response.json()["error"]["message"]


def test_an_admin_key_manages_keys(user):
    _, secret = api_key_create(user=user, name="ops", scope="admin")
    response = _bearer(secret).post("/api/v1/keys/", {"name": "ci"}, format="json")
    assert response.status_code == 201


def test_nobody_revokes_another_users_key(api, django_user_model):
    other = django_user_model.objects.create_user("other", password="x" * 20)
    key, secret = api_key_create(user=other, name="theirs")
    assert api.delete(f"/api/v1/keys/{key.id}/").status_code == 404
    assert _bearer(secret).get("/api/v1/populations/").status_code == 200


def test_a_key_of_an_inactive_user_is_refused(user):
    _, secret = api_key_create(user=user, name="job")
    user.is_active = False
    user.save()
    assert _bearer(secret).get("/api/v1/populations/").status_code == 401


def test_bad_key_requests_name_the_field(api):
    response = api.post("/api/v1/keys/", {"name": "x", "scope": "root"}, format="json")
    assert response.status_code == 400 and "scope" in response.json()["error"]["fields"]
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = api.post("/api/v1/keys/", {"name": "x", "expires_at": past}, format="json")
    assert response.status_code == 400 and "expires_at" in response.json()["error"]["fields"]
