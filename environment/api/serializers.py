from __future__ import annotations

from rest_framework import serializers

from environment.models import Area, DemographicMarginal


class MarginalSerializer(serializers.ModelSerializer):
    class Meta:
        model = DemographicMarginal
        fields = ["dimension", "category", "share", "universe", "source", "year"]


class AreaListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["id", "name", "kind", "state", "state_name", "population", "adult_population"]


class AreaDetailSerializer(serializers.ModelSerializer):
    marginals = MarginalSerializer(many=True, read_only=True)

    class Meta:
        model = Area
        fields = [
            "id", "name", "kind", "state", "state_name", "fips", "population", "adult_population",
            "county_fips", "county_name", "source", "year", "marginals",
        ]  # fmt: skip
