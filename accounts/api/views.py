from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    AuditEventSerializer,
    AuditFilterSerializer,
    DataDeletedSerializer,
    DataDeleteSerializer,
)
from accounts.data_rights import user_data_delete, user_data_export
from accounts.selectors import api_key_list, audit_event_list
from accounts.services import api_key_create, api_key_revoke
from config.errors import DomainError


class ApiKeyListCreateView(generics.ListAPIView):
    """The caller's API keys (never their secrets); POST issues one and shows its key once.
    Managing keys needs a session or a key with the admin scope."""

    serializer_class = ApiKeySerializer
    required_scope = "admin"

    def get_queryset(self):
        return api_key_list(user=self.request.user)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request):
        data = ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = api_key_create(user=request.user, request=request, **data.validated_data)
        body = ApiKeySerializer(key).data | {"key": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(APIView):
    required_scope = "admin"

    @extend_schema(request=None, responses={200: ApiKeySerializer})
    def delete(self, request, pk: int):
        """Revoke one of the caller's keys (it stays listed, with revoked_at)."""
        key = get_object_or_404(api_key_list(user=request.user), pk=pk)
        return Response(
            ApiKeySerializer(api_key_revoke(key=key, actor=request.user, request=request)).data
        )


class AuditEventListView(generics.ListAPIView):
    """What the caller did, and what was done to the caller's objects, newest first."""

    serializer_class = AuditEventSerializer

    @extend_schema(parameters=[AuditFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = AuditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return audit_event_list(user=self.request.user, filters=filters.validated_data)


class MyDataExportView(APIView):
    required_scope = "admin"

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request):
        """Everything the caller owns in one zip: populations (personas.json), studies, runs
        (run.json, answers.csv, each persona's artefacts in personas.json), held runs, policy and
        market analyses, multi-agent simulations, validation runs, API keys (no secrets) and the
        audit log."""
        content = user_data_export(user=request.user, request=request)
        response = HttpResponse(content, content_type="application/zip")
        name = f"persona-lab-{request.user.get_username()}.zip"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class MyDataDeleteView(APIView):
    required_scope = "admin"

    @extend_schema(request=DataDeleteSerializer, responses={200: DataDeletedSerializer})
    def post(self, request):
        """Delete everything the caller owns (and the account, if asked), all or nothing. The
        audit log keeps an entry of the deletion."""
        data = DataDeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["confirm"] != request.user.get_username():
            raise DomainError(
                "confirm must be your username, typed out exactly: deleting your data cannot be "
                "undone.",
                fields={"confirm": ["does not match your username"]},
            )
        report = user_data_delete(
            user=request.user,
            actor=request.user,
            delete_account=data.validated_data["delete_account"],
            request=request,
        )
        return Response(report.as_dict())
