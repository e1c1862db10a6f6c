"""The audit log: who did what to which object, append-only, readable by the owner."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from accounts.services import audit_record

pytestmark = pytest.mark.django_db

POPULATION = {"size": 5, "areas": [{"area": "phoenix_az_city"}], "seed": 1}


def test_creating_starting_exporting_and_cancelling_are_recorded(api, user, cces_question):
    population = api.post("/api/v1/populations/", POPULATION, format="json").json()
    study = api.post(
        "/api/v1/studies/",
        {
            "title": "Audit",
            "items": [{"code": "q", "text": cces_question.text, "poll_question": cces_question.id}],
        },
        format="json",
    ).json()
    run = api.post(
        "/api/v1/runs/",
        {"study": study["id"], "population": population["id"], "backend": "poll_cell"},
        format="json",
    ).json()
    api.get(f"/api/v1/populations/{population['id']}/export/")
    api.get(f"/api/v1/runs/{run['id']}/answers.csv")
    assert api.post(f"/api/v1/runs/{run['id']}/cancel/").status_code == 200
    # Cancelling it again is refused, and a refusal is not recorded.
    assert api.post(f"/api/v1/runs/{run['id']}/cancel/").status_code == 409
    events = api.get("/api/v1/audit/").json()["results"]
    seen = [(e["action"], e["object_type"], e["object_id"]) for e in reversed(events)]
    assert seen == [
        ("create", "personas.population", str(population["id"])),
        ("create", "studies.study", str(study["id"])),
        ("start", "studies.run", str(run["id"])),
        ("export", "personas.population", str(population["id"])),
        ("export", "studies.run", str(run["id"])),
        ("cancel", "studies.run", str(run["id"])),
    ]
    assert all(e["actor_name"] == user.username and e["via"] == "api" for e in events)
    start = AuditEvent.objects.get(action="start")
    assert start.detail["backend"] == "poll_cell" and start.ip_address == "127.0.0.1"
    filtered = api.get("/api/v1/audit/", {"action": "export"}).json()["results"]
    assert {e["action"] for e in filtered} == {"export"}


def test_creating_and_revoking_an_api_key_are_recorded_once(api, user):
    created = api.post("/api/v1/keys/", {"name": "laptop", "scope": "read"}, format="json")
    assert created.status_code == 201
    key_id = str(created.json()["id"])
    assert api.delete(f"/api/v1/keys/{key_id}/").status_code == 200
    # Revoking a revoked key changes nothing and records nothing.
    assert api.delete(f"/api/v1/keys/{key_id}/").status_code == 200
    events = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("key_create", "accounts.apikey", key_id),
        ("key_revoke", "accounts.apikey", key_id),
    ]
    assert all(
        (e.actor, e.owner, e.via, e.ip_address) == (user, user, "api", "127.0.0.1") for e in events
    )
    assert events[0].detail == {"scope": "read"} and events[0].object_repr.startswith("laptop (")
    # The secret is in no event.
    assert created.json()["key"] not in str([e.__dict__ for e in events])
    listed = api.get("/api/v1/audit/", {"object_type": "accounts.apikey"}).json()["results"]
    assert [e["action"] for e in listed] == ["key_revoke", "key_create"]


def test_events_are_append_only():
    event = audit_record(actor=None, action=AuditEvent.Action.RETENTION, via="system")
    event.detail = {"tampered": True}
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).detail == {}


def test_a_user_reads_only_their_own_events_staff_read_all(api, user, django_user_model):
    other = django_user_model.objects.create_user("other", password="x" * 20)
    audit_record(actor=other, action=AuditEvent.Action.CREATE, via="cli")
    audit_record(actor=user, action=AuditEvent.Action.CREATE, via="cli")
    mine = api.get("/api/v1/audit/").json()["results"]
    assert [e["actor_name"] for e in mine] == [user.username]
    staff = APIClient()
    staff.force_authenticate(
        django_user_model.objects.create_user("operator", password="x" * 20, is_staff=True)
    )
    assert len(staff.get("/api/v1/audit/").json()["results"]) == 2


def test_the_owner_sees_what_staff_did_to_their_objects(api, user, django_user_model):
    from personas.services import AreaWeight, population_create

    population = population_create(
        size=3, areas=[AreaWeight("phoenix_az_city")], seed=1, created_by=user
    )
    operator = django_user_model.objects.create_user("operator", password="x" * 20, is_staff=True)
    audit_record(actor=operator, action=AuditEvent.Action.EXPORT, obj=population, via="api")
    events = api.get("/api/v1/audit/").json()["results"]
    assert [(e["actor_name"], e["action"]) for e in events] == [("operator", "export")]


def test_admin_edits_are_recorded_and_the_log_is_read_only_in_the_admin(django_user_model):
    admin_user = django_user_model.objects.create_superuser(
        "root", "root@example.com", "correct horse battery staple"
    )
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/auth/group/add/", {"name": "analysts", "permissions": []}, follow=False
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin_add")
    assert event.actor == admin_user and event.object_type == "auth.group" and event.via == "admin"
    page = client.get(f"/admin/accounts/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403
