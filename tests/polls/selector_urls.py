"""Test-only urlconf: the selector's route as polls/api/urls.py will mount it under /api/v1/."""

from __future__ import annotations

from django.urls import include, path

from polls.api.relevance_views import RelevantQuestionsView

urlpatterns = [
    path(
        "api/v1/",
        include([path("polls/relevant/", RelevantQuestionsView.as_view(), name="poll-relevant")]),
    ),
]
