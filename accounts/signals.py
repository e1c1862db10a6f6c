"""Admin edits go into the audit log too: Django's admin records a LogEntry for each one."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import AuditEvent

_ACTIONS = {
    ADDITION: AuditEvent.Action.ADMIN_ADD,
    CHANGE: AuditEvent.Action.ADMIN_CHANGE,
    DELETION: AuditEvent.Action.ADMIN_DELETE,
}


@receiver(post_save, sender=LogEntry)
def admin_edit_to_audit(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    content_type = instance.content_type
    AuditEvent.objects.create(
        actor_id=instance.user_id,
        actor_name=instance.user.get_username() if instance.user_id else "",
        action=_ACTIONS.get(instance.action_flag, AuditEvent.Action.ADMIN_CHANGE),
        object_type=f"{content_type.app_label}.{content_type.model}" if content_type else "",
        object_id=instance.object_id or "",
        object_repr=(instance.object_repr or "")[:200],
        via="admin",
        detail={"change": instance.get_change_message()} if instance.change_message else {},
    )
