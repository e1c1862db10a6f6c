"""The API key admin: staff list keys with their last use, issue one (shown once) and revoke
(audited); a key's owner and scope are fixed once issued, and nothing is deleted."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import ApiKey, AuditEvent
from accounts.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_apikey_changelist")


@pytest.fixture
def keys(user) -> list[tuple[ApiKey, str]]:
    return [
        api_key_create(user=user, name="laptop", scope=ApiKey.Scope.READ),
        api_key_create(user=user, name="nightly-job", scope=ApiKey.Scope.RUN),
    ]


def test_the_list_shows_each_key_by_name_owner_prefix_and_scope_never_its_secret(
    admin_client, keys
):
    (laptop, laptop_secret), (job, _) = keys
    api_key_authenticate(laptop_secret)  # used once: the list shows when

    page = admin_client.get(CHANGELIST)

    assert page.status_code == 200
    rows = page.context["cl"].result_list
    assert {(k.name, k.prefix, k.scope, k.user.username) for k in rows} == {
        ("laptop", laptop.prefix, "read", "analyst"),
        ("nightly-job", job.prefix, "run", "analyst"),
    }
    assert next(k for k in rows if k.name == "laptop").last_used_at is not None
    text = page.content.decode()
    assert laptop.prefix in text and "nightly-job" in text
    assert laptop_secret not in text and laptop.hashed_secret not in text


def test_issuing_a_key_shows_the_working_key_once(admin_client, admin_user, user):
    response = admin_client.post(
        reverse("admin:accounts_apikey_add"),
        {
            "user": user.pk,
            "name": "laptop",
            "scope": "read",
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )

    assert response.status_code == 200
    shown = " ".join(m.message for m in response.context["messages"])
    found = re.search(r"(pl_[0-9a-f]+_\S+) — copy it now", shown)
    assert found, shown
    full = found.group(1)
    key = ApiKey.objects.get()  # one row, though the admin saw the form save
    assert (key.user, key.name, key.scope) == (user, "laptop", "read")
    assert api_key_authenticate(full) == key
    assert full.split("_", 2)[2] not in key.hashed_secret
    # Never again: not on the key's page nor in the list.
    assert (
        full
        not in admin_client.get(
            reverse("admin:accounts_apikey_change", args=[key.pk])
        ).content.decode()
    )
    assert full not in admin_client.get(CHANGELIST).content.decode()
    created = AuditEvent.objects.get(action=AuditEvent.Action.KEY_CREATE, object_id=str(key.pk))
    # Issued by the staff member, in the admin, for the key's owner.
    assert (created.actor, created.owner, created.via) == (admin_user, user, "admin")


def test_the_revoke_action_revokes_the_selected_keys_and_audits_each(
    admin_client, admin_user, keys, user
):
    (laptop, laptop_secret), (job, job_secret) = keys
    other, other_secret = api_key_create(user=user, name="kept")

    response = admin_client.post(
        CHANGELIST,
        {"action": "revoke", "_selected_action": [laptop.pk, job.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 2 key(s)." in [m.message for m in response.context["messages"]]
    assert api_key_authenticate(laptop_secret) is None
    assert api_key_authenticate(job_secret) is None
    assert api_key_authenticate(other_secret) == other
    assert set(ApiKey.objects.filter(revoked_at__isnull=False)) == {laptop, job}
    events = AuditEvent.objects.filter(action=AuditEvent.Action.KEY_REVOKE)
    assert {(e.object_id, e.actor, e.owner, e.via) for e in events} == {
        (str(laptop.pk), admin_user, user, "admin"),
        (str(job.pk), admin_user, user, "admin"),
    }


def test_an_issued_key_s_owner_and_scope_cannot_change_and_it_cannot_be_deleted(
    admin_client, keys, django_user_model
):
    (laptop, _), _ = keys
    someone = django_user_model.objects.create_user("someone", password="another-long-password")
    change = reverse("admin:accounts_apikey_change", args=[laptop.pk])

    response = admin_client.post(
        change,
        {
            "user": someone.pk,
            "scope": "admin",
            "name": "renamed",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )

    assert response.status_code == 302
    laptop.refresh_from_db()
    assert (laptop.name, laptop.user.username, laptop.scope) == ("renamed", "analyst", "read")
    assert (
        admin_client.get(reverse("admin:accounts_apikey_delete", args=[laptop.pk])).status_code
        == 403
    )
    actions = admin_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["revoke"]
