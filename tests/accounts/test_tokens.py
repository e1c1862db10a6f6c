"""Tokens (``Authorization: Token <key>`` / ``Bearer <key>``) are stored only as a SHA-256 hash;
the key is shown once; the migration from DRF's plaintext tokens keeps every client signed in."""

from __future__ import annotations

import hashlib
import importlib
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Token
from accounts.services import token_create

pytestmark = pytest.mark.django_db


def _client(scheme: str, key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client


def test_a_token_is_stored_only_as_its_hash_and_works_with_either_scheme(user):
    token, key = token_create(user=user)
    row = Token.objects.values().get(pk=token.pk)
    assert key not in str(row)
    assert row["digest"] == hashlib.sha256(key.encode()).hexdigest()
    for scheme in ("Token", "Bearer"):
        assert _client(scheme, key).get("/api/v1/populations/").status_code == 200
    # Only the instance that made the key carries it: a read from the database cannot show it.
    assert Token.objects.get(pk=token.pk).key is None


def test_a_wrong_key_or_an_inactive_user_is_a_401(user):
    _, key = token_create(user=user)
    wrong = _client("Token", key[:-1] + ("0" if key[-1] != "0" else "1"))
    response = wrong.get("/api/v1/populations/")
    assert response.status_code == 401
    assert "create_token" in response.json()["error"]["message"]
    user.is_active = False
    user.save()
    assert _client("Token", key).get("/api/v1/populations/").status_code == 401


def test_a_new_token_replaces_the_old_one(user):
    _, old = token_create(user=user)
    out = StringIO()
    call_command("create_token", user.username, stdout=out)
    new = out.getvalue().strip()
    assert new != old and len(new) == 40
    assert _client("Token", old).get("/api/v1/populations/").status_code == 401
    assert _client("Token", new).get("/api/v1/populations/").status_code == 200
    assert Token.objects.filter(user=user).count() == 1


def test_the_migration_hashes_drf_tokens_in_place_and_erases_the_plaintext(user):
    """A database from before the change has DRF's table with plaintext keys: after the
    migration the same key still signs its client in, and no plaintext key is left."""
    legacy_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, "
            "user_id integer)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [legacy_key, "2026-01-01 00:00:00", user.pk],
        )
    migration = importlib.import_module("accounts.migrations.0002_hashed_tokens")
    # The function needs only the editor's connection (a real editor cannot open inside the
    # test's transaction on SQLite).
    migration.hash_legacy_tokens(apps, SimpleNamespace(connection=connection))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
        cursor.execute("DROP TABLE authtoken_token")
    assert _client("Token", legacy_key).get("/api/v1/populations/").status_code == 200
