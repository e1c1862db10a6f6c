from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics

from polls.api.serializers import (
    CrosstabFilterSerializer,
    CrosstabSerializer,
    EventFilterSerializer,
    MajorEventSerializer,
    PollDetailSerializer,
    PollFilterSerializer,
    PollListSerializer,
)
from polls.models import MajorEvent, Question
from polls.selectors import event_list, poll_list, poll_with_questions, question_crosstabs


def _query_params(serializer_class, request) -> dict:
    # Bad parameters fail with 400 naming the parameter (config.api's error shape).
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(
    parameters=[PollFilterSerializer],
    description=(
        "Polls, filtered by `topic` (poll or question topic tags, case-insensitive, matches inside "
        "a tag), time frame (`date_from`/`date_to`: field period overlaps; polls with no field "
        "dates match on their year; polls with neither never match a date filter) and `group` "
        "(a dimension with crosstab rows: age_bracket, sex, race_ethnicity, education, income, "
        "party, state)."
    ),
)
class PollListView(generics.ListAPIView):
    serializer_class = PollListSerializer

    def get_queryset(self):
        return poll_list(**_query_params(PollFilterSerializer, self.request))


class PollDetailView(generics.RetrieveAPIView):
    serializer_class = PollDetailSerializer

    def get_queryset(self):
        return poll_with_questions()


@extend_schema(
    parameters=[CrosstabFilterSerializer],
    description="A question's crosstab rows (weighted share, unweighted group base n), paginated.",
)
class QuestionCrosstabListView(generics.ListAPIView):
    serializer_class = CrosstabSerializer

    def get_queryset(self):
        question = get_object_or_404(Question, pk=self.kwargs["pk"])
        params = _query_params(CrosstabFilterSerializer, self.request)
        return question_crosstabs(question=question, dimension=params.get("dimension"))


@extend_schema(
    parameters=[EventFilterSerializer],
    description="Major events whose date lies within [start, end] (both optional, inclusive).",
)
class EventListView(generics.ListAPIView):
    serializer_class = MajorEventSerializer

    def get_queryset(self):
        return event_list(**_query_params(EventFilterSerializer, self.request))


class EventDetailView(generics.RetrieveAPIView):
    serializer_class = MajorEventSerializer
    queryset = MajorEvent.objects.all()
