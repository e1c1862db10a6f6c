from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiKey, AuditEvent
from config.api import ChoiceField, DateTimeField, ModelSerializer, QuerySerializer, Serializer


class ApiKeySerializer(ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "active",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(Serializer):
    name = serializers.CharField(max_length=100)
    scope = ChoiceField(choices=ApiKey.Scope.choices, default=ApiKey.Scope.RUN)
    expires_at = DateTimeField(required=False, allow_null=True, default=None)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The full key: shown once, never again")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class AuditEventSerializer(ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "via",
            "detail",
        ]
        read_only_fields = fields


class AuditFilterSerializer(QuerySerializer):
    action = ChoiceField(choices=AuditEvent.Action.choices, required=False)
    object_type = serializers.CharField(required=False, max_length=60)
    object_id = serializers.CharField(required=False, max_length=64)
    since = DateTimeField(required=False)


class DataDeleteSerializer(Serializer):
    confirm = serializers.CharField(
        help_text="Your username, typed out: the deletion cannot be undone"
    )
    delete_account = serializers.BooleanField(
        default=False, help_text="Also delete the account itself (signs you out for good)"
    )


class DataDeletedSerializer(Serializer):
    runs = serializers.IntegerField()
    held_runs = serializers.IntegerField()
    studies = serializers.IntegerField()
    populations = serializers.IntegerField()
    validation_runs = serializers.IntegerField()
    api_keys = serializers.IntegerField()
    account_deleted = serializers.BooleanField()
