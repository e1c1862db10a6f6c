"""POST /api/v1/polls/relevant/: the poll questions that ground a scenario, ranked and explained."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Serializer
from personas.models import Persona
from polls.relevance import (
    CHARS_PER_TOKEN,
    COVERAGE_TARGET,
    POLL_TAG_FACTOR,
    RECENCY_HALF_LIFE_YEARS,
    RECENCY_UNDATED,
    WEIGHTS,
    poll_select_relevant,
)

BUDGET_MIN, BUDGET_MAX = 50, 20_000


class RelevantQuestionsRequestSerializer(Serializer):
    scenario = serializers.CharField(
        max_length=5000, help_text="The policy, product or message, in plain words"
    )
    persona = serializers.PrimaryKeyRelatedField(
        queryset=Persona.objects.select_related("area"),
        required=False,
        allow_null=True,
        help_text="Persona id: weights the answer shares and coverage to this persona's cell",
        error_messages={
            "does_not_exist": "Unknown persona {pk_value}: no persona has this id. Personas are "
            "listed with their population at /api/v1/populations/<id>/.",
            "incorrect_type": "A persona is named by its integer id; got {data_type}.",
        },
    )
    topics = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=50,
        help_text="Topic tags of the scenario; inferred from its words when omitted",
    )
    budget_tokens = serializers.IntegerField(
        required=False,
        default=1500,
        min_value=BUDGET_MIN,
        max_value=BUDGET_MAX,
        help_text="Context budget for the grounding texts, in estimated tokens",
    )
    limit = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=200, help_text="Most questions"
    )


class ScorePartsSerializer(Serializer):
    text_similarity = serializers.FloatField()
    topic_match = serializers.FloatField()
    cell_coverage = serializers.FloatField()
    recency = serializers.FloatField()


class AnswerShareSerializer(Serializer):
    option_code = serializers.CharField()
    label = serializers.CharField()
    share = serializers.FloatField()


class RelevantQuestionSerializer(Serializer):
    question_id = serializers.IntegerField()
    question_code = serializers.CharField()
    question_text = serializers.CharField()
    poll_slug = serializers.CharField()
    poll_title = serializers.CharField()
    poll_year = serializers.IntegerField(allow_null=True)
    score = serializers.FloatField(help_text="Sum of parts × weights, in [0, 1]")
    parts = ScorePartsSerializer()
    matched_topics = serializers.ListField(child=serializers.CharField())
    cell_respondents = serializers.IntegerField(
        help_text="Respondents sharing the persona's full cell (the whole sample without a persona)"
    )
    grounding_respondents = serializers.IntegerField(help_text="Respondents behind the shares")
    cell_dimensions = serializers.ListField(child=serializers.CharField())
    cell_widened_by = serializers.ListField(child=serializers.CharField())
    answer_shares = AnswerShareSerializer(many=True)
    tokens = serializers.IntegerField(help_text="Estimated tokens of grounding_text")
    grounding_text = serializers.CharField()


class SkippedQuestionSerializer(Serializer):
    question_id = serializers.IntegerField()
    question_code = serializers.CharField()
    poll_title = serializers.CharField()
    score = serializers.FloatField()
    tokens = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=["larger_than_budget", "budget_spent", "limit"])
    message = serializers.CharField()


class SelectorScoringSerializer(Serializer):
    weights = ScorePartsSerializer()
    coverage_target = serializers.IntegerField()
    recency_half_life_years = serializers.FloatField()
    recency_undated = serializers.FloatField()
    poll_tag_factor = serializers.FloatField()
    chars_per_token = serializers.IntegerField()


class RelevantQuestionsSerializer(Serializer):
    topics = serializers.ListField(child=serializers.CharField())
    topics_source = serializers.ChoiceField(choices=["given", "inferred"])
    budget_tokens = serializers.IntegerField()
    tokens_used = serializers.IntegerField()
    scoring = SelectorScoringSerializer()
    results = RelevantQuestionSerializer(many=True)
    skipped = SkippedQuestionSerializer(many=True)


SCORING = {
    "weights": WEIGHTS,
    "coverage_target": COVERAGE_TARGET,
    "recency_half_life_years": RECENCY_HALF_LIFE_YEARS,
    "recency_undated": RECENCY_UNDATED,
    "poll_tag_factor": POLL_TAG_FACTOR,
    "chars_per_token": CHARS_PER_TOKEN,
}


class RelevantQuestionsView(APIView):
    @extend_schema(
        summary="Poll questions most relevant to a scenario and a persona",
        description=(
            "Ranks every poll question by score = Σ weight × part over text similarity (TF-IDF "
            "cosine), topic match, coverage of the persona's demographic cell and recency, and "
            "keeps the best ones whose grounding texts fit budget_tokens. Questions that were "
            "relevant but did not fit are listed in `skipped` with the reason."
        ),
        request=RelevantQuestionsRequestSerializer,
        responses={200: RelevantQuestionsSerializer},
        examples=[
            OpenApiExample(
                "Abortion ban",
                value={"scenario": "A state law banning abortion after six weeks", "persona": 1},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = RelevantQuestionsRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        selection = poll_select_relevant(
            scenario=v["scenario"],
            persona=v.get("persona"),
            topics=v.get("topics") or None,
            budget_tokens=v["budget_tokens"],
            limit=v.get("limit"),
        )
        body = {
            "topics": selection.topics,
            "topics_source": selection.topics_source,
            "budget_tokens": selection.budget_tokens,
            "tokens_used": selection.tokens_used,
            "scoring": SCORING,
            "results": list(selection),
            "skipped": selection.skipped,
        }
        return Response(RelevantQuestionsSerializer(body).data)
