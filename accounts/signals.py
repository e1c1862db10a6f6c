"""Admin edits go into the audit log too: Django's admin records a LogEntry for each one. A token's
cached resolution is dropped when the token or its user changes, and this process's verified copy
of a key when the key or its user changes."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey, AuditEvent, Token
from accounts.services import api_key_forget, token_cache_forget, verified_forget_all

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


@receiver(post_save, sender=Token)
@receiver(post_delete, sender=Token)
def token_changed_forget(sender, instance: Token, **kwargs) -> None:
    token_cache_forget(digests=[instance.digest])


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def user_changed_forget_tokens(sender, instance, **kwargs) -> None:
    # Deactivating a user ends their token and keys at once. A user's deletion deletes them too.
    verified_forget_all()
    token_cache_forget(
        digests=list(Token.objects.filter(user=instance).values_list("digest", flat=True))
    )


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def api_key_changed_forget(sender, instance: ApiKey, **kwargs) -> None:
    api_key_forget(prefix=instance.prefix)
