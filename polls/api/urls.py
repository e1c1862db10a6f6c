from django.urls import path

from polls.api.views import PollDetailView, PollListView

urlpatterns = [
    path("polls/", PollListView.as_view(), name="poll-list"),
    path("polls/<int:pk>/", PollDetailView.as_view(), name="poll-detail"),
]
