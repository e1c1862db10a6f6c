from django.urls import path

from polls.api.model_views import QuestionAreaEstimatesView
from polls.api.relevance_views import RelevantQuestionsView
from polls.api.views import (
    EventDetailView,
    EventListView,
    PollDetailView,
    PollListView,
    QuestionCrosstabListView,
)

urlpatterns = [
    path("polls/", PollListView.as_view(), name="poll-list"),
    path("polls/relevant/", RelevantQuestionsView.as_view(), name="poll-relevant"),
    path("polls/<int:pk>/", PollDetailView.as_view(), name="poll-detail"),
    path(
        "polls/questions/<int:pk>/crosstabs/",
        QuestionCrosstabListView.as_view(),
        name="question-crosstabs",
    ),
    path(
        "polls/questions/<int:pk>/estimates/",
        QuestionAreaEstimatesView.as_view(),
        name="question-area-estimates",
    ),
    path("events/", EventListView.as_view(), name="event-list"),
    path("events/<int:pk>/", EventDetailView.as_view(), name="event-detail"),
]
