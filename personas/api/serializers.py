from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from config.api import ChoiceField, ModelSerializer, QuerySerializer, Serializer
from environment.categories import choices
from personas.joint import MAX_AGE, MIN_AGE
from personas.models import Persona, Population, PopulationArea
from personas.services import MAX_AREA_WEIGHT


class AreaWeightInputSerializer(Serializer):
    area = serializers.CharField(help_text="Area id, e.g. dallas_tx_city")
    weight = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=MAX_AREA_WEIGHT,
        help_text="Relative weight, > 0 (e.g. 2 and 1: twice the personas in the first area)",
    )


def _allowed_field(dimension: str) -> serializers.ListField:
    return serializers.ListField(
        child=ChoiceField(choices=choices(dimension)),
        required=False,
        allow_empty=False,
        help_text=f"Allowed {dimension} categories; others get no personas",
    )


class ConstraintsInputSerializer(Serializer):
    age_min = serializers.IntegerField(required=False, min_value=MIN_AGE, max_value=MAX_AGE)
    age_max = serializers.IntegerField(required=False, min_value=MIN_AGE)
    age_bracket = _allowed_field("age_bracket")
    sex = _allowed_field("sex")
    race_ethnicity = _allowed_field("race_ethnicity")
    education = _allowed_field("education")
    income = _allowed_field("income")

    def to_internal_value(self, data):
        # Nested serializers drop unknown keys silently; a misspelt constraint must not vanish.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        k: [f"unknown constraint; use one of {', '.join(self.fields)}"]
                        for k in unknown
                    }
                )
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs.get("age_min", MIN_AGE) > attrs.get("age_max", MAX_AGE):
            raise serializers.ValidationError({"age_max": ["must be at least age_min"]})
        return attrs


class PopulationCreateSerializer(Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    size = serializers.IntegerField(help_text="Number of personas (1 .. POPULATION_MAX_SIZE)")
    areas = AreaWeightInputSerializer(many=True, allow_empty=False)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    constraints = ConstraintsInputSerializer(
        required=False,
        help_text='e.g. {"age_min": 30, "age_max": 64, "income": ["lt_25k", "25_50k"]}; '
        "the population stays census-proportional within them",
    )
    include_behavioral_characteristics = serializers.BooleanField(
        default=False,
        help_text="Draw each persona's full profile: behavioural characteristics, Big Five, "
        "occupation, tech profile and name",
    )


class PopulationAreaSerializer(ModelSerializer):
    area = serializers.CharField(source="area_id")
    name = serializers.CharField(source="area.name")

    class Meta:
        model = PopulationArea
        fields = ["area", "name", "weight", "personas"]


# Documented on every operation that uses a population (runs, estimates, exports).
POPULATION_NOT_READY = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="The population is not ready: still being built (try again when its status is "
    "ready) or failed to build; the body is the API's error shape.",
)

# A population's build: queued, building, ready or failed, with its progress.
BUILD_FIELDS = [
    "status", "stage", "personas_done", "error_message", "started_at", "finished_at",
]  # fmt: skip


class PopulationSerializer(ModelSerializer):
    areas = PopulationAreaSerializer(many=True, read_only=True)
    composition = serializers.SerializerMethodField()

    class Meta:
        model = Population
        fields = [
            "id",
            "name",
            "size",
            "seed",
            "method",
            "constraints",
            "include_behavioral_characteristics",
            "created_at",
            "areas",
            "composition",
            "validation_report",
            *BUILD_FIELDS,
        ]
        read_only_fields = BUILD_FIELDS

    def get_composition(self, obj) -> dict[str, dict[str, int]]:
        return self.context.get("composition", {})


class PopulationSummarySerializer(ModelSerializer):
    """A population in a list: what it is, without its composition or validation report."""

    class Meta:
        model = Population
        fields = ["id", "name", "size", "seed", "method", "created_at", "status"]


class PersonaSerializer(ModelSerializer):
    state = serializers.CharField(source="area.state", read_only=True)

    class Meta:
        model = Persona
        fields = [
            "id", "population", "index", "area", "state", "name", "age", "age_bracket", "sex",
            "race_ethnicity", "education", "income", "profile",
        ]  # fmt: skip


class PersonaFilterSerializer(QuerySerializer):
    area = serializers.CharField(required=False)
    sex = ChoiceField(choices=choices("sex"), required=False)
    age_bracket = ChoiceField(choices=choices("age_bracket"), required=False)
    race_ethnicity = ChoiceField(choices=choices("race_ethnicity"), required=False)
    education = ChoiceField(choices=choices("education"), required=False)
    income = ChoiceField(choices=choices("income"), required=False)
    age_min = serializers.IntegerField(required=False, min_value=18, max_value=120)
    age_max = serializers.IntegerField(required=False, min_value=18, max_value=120)


class PersonaAwarenessSerializer(PersonaSerializer):
    awareness = serializers.SerializerMethodField()

    class Meta(PersonaSerializer.Meta):
        fields = [*PersonaSerializer.Meta.fields, "awareness"]

    def get_awareness(self, obj) -> dict:
        return self.context.get("awareness", {})


class PoolImportSerializer(Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    pool = serializers.JSONField(help_text="A personas.json document (format persona-lab/personas)")

    def validate_pool(self, value):
        if not isinstance(value, dict) or not isinstance(value.get("personas"), list):
            raise serializers.ValidationError(
                "Expected a personas.json object with 'format', 'version' and a 'personas' list "
                "(what GET /api/v1/populations/{id}/export/ returns)."
            )
        return value
