"""Reads for API keys and the audit log."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import ApiKey, AuditEvent
from config.ownership import sees_everything


def api_key_list(*, user) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


def audit_event_list(*, user, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """Events `user` may read: what they did and what was done to their objects (staff: all)."""
    events = AuditEvent.objects.all()
    if not sees_everything(user):
        events = events.filter(Q(actor=user) | Q(owner=user))
    for field in ("action", "object_type", "object_id"):
        value = (filters or {}).get(field)
        if value:
            events = events.filter(**{field: value})
    if (filters or {}).get("since"):
        events = events.filter(created_at__gte=filters["since"])  # type: ignore[index]
    return events.order_by("-created_at", "-id")
