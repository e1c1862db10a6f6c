from __future__ import annotations

from rest_framework import generics

from polls.api.serializers import PollDetailSerializer, PollListSerializer
from polls.selectors import poll_list, poll_with_questions


class PollListView(generics.ListAPIView):
    serializer_class = PollListSerializer

    def get_queryset(self):
        return poll_list()


class PollDetailView(generics.RetrieveAPIView):
    serializer_class = PollDetailSerializer

    def get_queryset(self):
        return poll_with_questions()
