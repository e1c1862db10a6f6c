from django.urls import path

from studies.api.views import (
    RunCancelView,
    RunDetailView,
    RunListCreateView,
    RunResultsView,
    StudyDetailView,
    StudyListCreateView,
)

urlpatterns = [
    path("studies/", StudyListCreateView.as_view(), name="study-list"),
    path("studies/<int:pk>/", StudyDetailView.as_view(), name="study-detail"),
    path("runs/", RunListCreateView.as_view(), name="run-list"),
    path("runs/<int:pk>/", RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/cancel/", RunCancelView.as_view(), name="run-cancel"),
    path("runs/<int:pk>/results/", RunResultsView.as_view(), name="run-results"),
]
