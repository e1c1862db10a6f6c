from django.urls import path

from studies.api.views import (
    RunAnswersExportView,
    RunCancelView,
    RunDetailView,
    RunEstimateView,
    RunExportView,
    RunListCreateView,
    RunPersonaDetailView,
    RunPersonaExportView,
    RunPersonaListView,
    RunResultsView,
    StudyDetailView,
    StudyListCreateView,
)

urlpatterns = [
    path("studies/", StudyListCreateView.as_view(), name="study-list"),
    path("studies/<int:pk>/", StudyDetailView.as_view(), name="study-detail"),
    path("runs/", RunListCreateView.as_view(), name="run-list"),
    path("runs/estimate/", RunEstimateView.as_view(), name="run-estimate"),
    path("runs/<int:pk>/", RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/personas/", RunPersonaListView.as_view(), name="run-persona-list"),
    path(
        "runs/<int:pk>/personas/<int:persona_id>/",
        RunPersonaDetailView.as_view(),
        name="run-persona-detail",
    ),
    path(
        "runs/<int:pk>/personas/<int:persona_id>/export/",
        RunPersonaExportView.as_view(),
        name="run-persona-export",
    ),
    path("runs/<int:pk>/export/", RunExportView.as_view(), name="run-export"),
    path("runs/<int:pk>/answers/", RunAnswersExportView.as_view(), name="run-answers"),
    # The first URL of the answer table, kept for the clients and pages that link to it.
    path("runs/<int:pk>/answers.csv", RunAnswersExportView.as_view(), name="run-answers-csv"),
    path("runs/<int:pk>/cancel/", RunCancelView.as_view(), name="run-cancel"),
    path("runs/<int:pk>/results/", RunResultsView.as_view(), name="run-results"),
]
