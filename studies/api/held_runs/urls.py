from django.urls import path

from studies.api.held_runs.views import (
    HeldRunCancelView,
    HeldRunDetailView,
    HeldRunListCreateView,
    HeldRunRetryView,
    HeldRunStartView,
)

urlpatterns = [
    path("held-runs/", HeldRunListCreateView.as_view(), name="held-run-list"),
    path("held-runs/<int:pk>/", HeldRunDetailView.as_view(), name="held-run-detail"),
    path("held-runs/<int:pk>/cancel/", HeldRunCancelView.as_view(), name="held-run-cancel"),
    path("held-runs/<int:pk>/start/", HeldRunStartView.as_view(), name="held-run-start"),
    path("held-runs/<int:pk>/retry/", HeldRunRetryView.as_view(), name="held-run-retry"),
]
