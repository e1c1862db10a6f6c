"""Who a client is (API keys) and what clients did (the audit log)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One thing a user did to one object. Append-only: the application never changes or deletes
    an event (`save` refuses updates, `delete` refuses), and the admin shows them read-only. An
    event outlives its object and its actor (names are kept as text)."""

    class Action(models.TextChoices):
        CREATE = "create"
        START = "start"
        CANCEL = "cancel"
        RETRY = "retry"
        EXPORT = "export"
        DELETE = "delete"
        KEY_CREATE = "key_create", "API key created"
        KEY_REVOKE = "key_revoke", "API key revoked"
        ADMIN_ADD = "admin_add", "Admin: added"
        ADMIN_CHANGE = "admin_change", "Admin: changed"
        ADMIN_DELETE = "admin_delete", "Admin: deleted"
        DATA_EXPORT = "data_export", "All data exported"
        DATA_DELETE = "data_delete", "All data deleted"
        RETENTION = "retention", "Retention applied"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
        help_text="Who did it (empty for the system, or once the user is deleted)",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Whose object it is: the owner reads the events about their objects",
    )
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    object_type = models.CharField(max_length=60, blank=True, help_text="e.g. studies.run")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    via = models.CharField(max_length=20, blank=True, help_text="api, page, admin, cli or system")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Audit events are append-only; record a new event instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only and cannot be deleted.")


class ApiKey(models.Model):
    """A named, revocable key of one user, with scopes. Only a SHA-256 hash of the secret is
    stored (the secret is 32 random bytes, so a fast hash is enough: nothing to brute-force); the
    client sees the full key once, at creation. The key is ``pl_<prefix>_<secret>``; the prefix
    finds the row, the hash confirms it."""

    class Scope(models.TextChoices):
        READ = "read", "read: GET only"
        RUN = "run", "run: read, and create and start work"
        ADMIN = "admin", "admin: everything, including deleting data and managing keys"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_secret = models.CharField(max_length=64)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.RUN)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        from django.utils import timezone

        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class Token(models.Model):
    """A user's API token (``Authorization: Token <key>`` or ``Bearer <key>``), the successor of
    DRF's authtoken, which kept the key in plaintext. Only the SHA-256 of the key is stored (the key
    is 20 random bytes, so a fast hash is enough); the key itself is on the instance that created
    it (``Token.objects.create(user=u).key``) and is never shown again: a lost key is replaced with
    ``manage.py create_token <username>``."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_token"
    )
    created = models.DateTimeField(auto_now_add=True)

    # The plaintext key, only on the instance that generated it.
    key: str | None = None

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"token of {self.user}"

    def save(self, *args, **kwargs):
        if not self.digest:
            import secrets

            from accounts.services import token_digest

            self.key = secrets.token_hex(20)
            self.digest = token_digest(self.key)
        super().save(*args, **kwargs)
