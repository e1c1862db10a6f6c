from __future__ import annotations

from rest_framework import serializers

from polls.models import Option, Poll, Question


class OptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Option
        fields = ["id", "code", "label", "order", "ordinal_value"]


class QuestionSerializer(serializers.ModelSerializer):
    options = OptionSerializer(many=True, read_only=True)

    class Meta:
        model = Question
        fields = ["id", "code", "text", "topic_tags", "options"]


class PollListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Poll
        fields = ["id", "slug", "title", "pollster", "year", "sample_size", "topic_tags"]


class PollDetailSerializer(serializers.ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = Poll
        fields = [
            "id", "slug", "title", "pollster", "year", "field_start", "field_end", "population",
            "mode", "sample_size", "source", "licence", "topic_tags", "questions",
        ]  # fmt: skip
