from __future__ import annotations

from rest_framework import serializers

from config.api import ChoiceField, DateField, ModelSerializer, QuerySerializer
from polls.models import Crosstab, MajorEvent, Option, Poll, Question

GROUP_CHOICES = [d for d in Crosstab.Dimension.values if d != Crosstab.Dimension.ALL]


class OptionSerializer(ModelSerializer):
    class Meta:
        model = Option
        fields = ["id", "code", "label", "order", "ordinal_value"]


class QuestionSerializer(ModelSerializer):
    options = OptionSerializer(many=True, read_only=True)

    class Meta:
        model = Question
        fields = ["id", "code", "text", "topic_tags", "options"]


# A plain string in the schema, not an enum of the 249 ISO codes the model's choices hold.
COUNTRY_FIELD = {"help_text": "Where the poll was fielded: ISO 3166-1 alpha-2 code, e.g. US, GB"}


class PollListSerializer(ModelSerializer):
    question_count = serializers.IntegerField(read_only=True)
    question_ids = serializers.PrimaryKeyRelatedField(
        source="questions", many=True, read_only=True, help_text="The poll's questions, in order"
    )
    country = serializers.CharField(read_only=True, **COUNTRY_FIELD)

    class Meta:
        model = Poll
        fields = [
            "id", "slug", "title", "pollster", "country", "year", "field_start", "field_end",
            "population", "sample_size", "topic_tags", "question_count", "question_ids",
        ]  # fmt: skip


class PollDetailSerializer(ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)
    country = serializers.CharField(read_only=True, **COUNTRY_FIELD)

    class Meta:
        model = Poll
        fields = [
            "id", "slug", "title", "pollster", "country", "year", "field_start", "field_end",
            "population", "mode", "sample_size", "source", "licence", "topic_tags", "questions",
        ]  # fmt: skip


class PollFilterSerializer(QuerySerializer):
    topic = serializers.CharField(required=False, max_length=100)
    date_from = DateField(required=False, help_text="YYYY-MM-DD")
    date_to = DateField(required=False, help_text="YYYY-MM-DD")
    group = ChoiceField(choices=GROUP_CHOICES, required=False)

    def validate(self, attrs):
        if (
            attrs.get("date_from")
            and attrs.get("date_to")
            and attrs["date_from"] > attrs["date_to"]
        ):
            raise serializers.ValidationError({"date_to": "date_to must not be before date_from."})
        return attrs


class CrosstabSerializer(ModelSerializer):
    option_code = serializers.CharField(source="option.code", read_only=True)
    option_label = serializers.CharField(source="option.label", read_only=True)

    class Meta:
        model = Crosstab
        fields = ["dimension", "category", "option_code", "option_label", "share", "n", "origin"]


class CrosstabFilterSerializer(QuerySerializer):
    dimension = ChoiceField(choices=Crosstab.Dimension.values, required=False)


class EventFilterSerializer(QuerySerializer):
    start = DateField(required=False, help_text="YYYY-MM-DD")
    end = DateField(required=False, help_text="YYYY-MM-DD")

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": "end must not be before start."})
        return attrs


class MajorEventSerializer(ModelSerializer):
    class Meta:
        model = MajorEvent
        fields = ["id", "date", "title", "type", "description", "related_topics", "source"]
