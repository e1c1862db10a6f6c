from django.urls import path

from validation.api.views import ValidationRunDetailView, ValidationRunListCreateView

urlpatterns = [
    path("validation/runs/", ValidationRunListCreateView.as_view(), name="validation-run-list"),
    path(
        "validation/runs/<int:pk>/", ValidationRunDetailView.as_view(), name="validation-run-detail"
    ),
]
