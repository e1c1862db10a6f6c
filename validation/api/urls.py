from django.urls import path

from validation.api.views import (
    AccuracyReportView,
    ValidationDesignCreateView,
    ValidationRunDetailView,
    ValidationRunListCreateView,
)

urlpatterns = [
    path(
        "validation/accuracy-report",
        AccuracyReportView.as_view(),
        name="validation-accuracy-report",
    ),
    path("validation/runs/", ValidationRunListCreateView.as_view(), name="validation-run-list"),
    path(
        "validation/designs/", ValidationDesignCreateView.as_view(), name="validation-design-create"
    ),
    path(
        "validation/runs/<int:pk>/", ValidationRunDetailView.as_view(), name="validation-run-detail"
    ),
]
