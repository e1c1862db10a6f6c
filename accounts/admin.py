from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from accounts.models import ApiKey, AuditEvent, Token
from accounts.services import api_key_create, api_key_revoke


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only in the application."""

    list_display = [
        "created_at",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "via",
    ]
    list_filter = ["action", "via", "object_type"]
    search_fields = ["actor_name", "object_id", "object_repr"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "scope",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["scope"]
    search_fields = ["name", "prefix", "user__username"]
    fields = [
        "user",
        "name",
        "scope",
        "expires_at",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    raw_id_fields = ["user"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # A key's owner and scope are fixed once issued: revoke and issue a new one instead.
        if obj is not None:
            return [*self.readonly_fields, "user", "scope"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, secret = api_key_create(
            user=obj.user,
            name=obj.name,
            scope=obj.scope,
            expires_at=obj.expires_at,
            request=request,
            actor=request.user,
            via="admin",
        )
        obj.pk, obj.prefix, obj.hashed_secret = key.pk, key.prefix, key.hashed_secret
        messages.warning(
            request, f"The key for {obj.user}: {secret} — copy it now, it is not shown again."
        )

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # revoke instead, so the audit trail keeps the key

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset:
            api_key_revoke(key=key, actor=request.user, request=request, via="admin")
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    """Tokens are stored hashed: adding one shows its key once; there is nothing to edit."""

    list_display = ["user", "created"]
    search_fields = ["user__username"]
    fields = ["user"]
    autocomplete_fields = ["user"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        Token.objects.filter(user=obj.user).delete()
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            f"Token for {obj.user}: {obj.key} — copy it now, it is stored hashed and cannot be "
            "shown again.",
            messages.WARNING,
        )
