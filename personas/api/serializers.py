from __future__ import annotations

from rest_framework import serializers

from personas.models import Population, PopulationArea


class AreaWeightInputSerializer(serializers.Serializer):
    area = serializers.CharField(help_text="Area id, e.g. dallas_tx_city")
    weight = serializers.FloatField(required=False, min_value=0.0, help_text="Relative weight")


class PopulationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    size = serializers.IntegerField(help_text="Number of personas (1 .. POPULATION_MAX_SIZE)")
    areas = AreaWeightInputSerializer(many=True, allow_empty=False)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)


class PopulationAreaSerializer(serializers.ModelSerializer):
    area = serializers.CharField(source="area_id")
    name = serializers.CharField(source="area.name")

    class Meta:
        model = PopulationArea
        fields = ["area", "name", "weight", "personas"]


class PopulationSerializer(serializers.ModelSerializer):
    areas = PopulationAreaSerializer(many=True, read_only=True)
    composition = serializers.SerializerMethodField()

    class Meta:
        model = Population
        fields = [
            "id",
            "name",
            "size",
            "seed",
            "status",
            "method",
            "created_at",
            "areas",
            "composition",
        ]

    def get_composition(self, obj) -> dict[str, dict[str, int]]:
        return self.context.get("composition", {})
