from django.urls import path

from accounts.api.views import (
    ApiKeyListCreateView,
    ApiKeyRevokeView,
    AuditEventListView,
    MyDataDeleteView,
    MyDataExportView,
)

urlpatterns = [
    path("keys/", ApiKeyListCreateView.as_view(), name="api-key-list"),
    path("keys/<int:pk>/", ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("audit/", AuditEventListView.as_view(), name="audit-list"),
    path("me/export/", MyDataExportView.as_view(), name="my-data-export"),
    path("me/delete/", MyDataDeleteView.as_view(), name="my-data-delete"),
]
