from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import ChoiceField, ModelSerializer, QuerySerializer, Serializer
from environment.models import Area, DemographicMarginal
from environment.selectors import area_unusable_reason


class MarginalSerializer(ModelSerializer):
    class Meta:
        model = DemographicMarginal
        fields = ["dimension", "category", "share", "universe", "source", "year"]


class AreaUsabilityMixin(Serializer):
    """Whether personas can be drawn in the area, and why not (from `area_usability`)."""

    usable = serializers.BooleanField(
        read_only=True,
        help_text="The area has census marginals for all five dimensions (age, sex, race, "
        "education, income), so a population can be drawn there",
    )
    unusable_reason = serializers.SerializerMethodField(
        help_text="Why a population cannot be drawn there; null for a usable area"
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_unusable_reason(self, area: Area) -> str | None:
        return area_unusable_reason(area)


class AreaListSerializer(AreaUsabilityMixin, ModelSerializer):
    class Meta:
        model = Area
        fields = [
            "id", "name", "kind", "state", "state_name", "population", "adult_population",
            "usable", "unusable_reason",
        ]  # fmt: skip


class AreaFilterSerializer(QuerySerializer):
    """The area list's filters: a value that matches no area is refused (400) rather than
    answered with an empty page."""

    search = serializers.CharField(required=False, allow_blank=True, help_text="Part of the name")
    state = serializers.CharField(
        required=False, allow_blank=True, help_text="USPS state code, e.g. TX"
    )
    kind = ChoiceField(choices=Area.Kind.choices, required=False, allow_blank=True)
    usable = ChoiceField(
        choices=["true", "false"],
        required=False,
        allow_blank=True,
        help_text="true: only areas a population can be drawn in; false: only those it cannot "
        "(each with its unusable_reason)",
    )

    def validate_usable(self, value: str) -> bool | None:
        return {"true": True, "false": False}.get(value)

    def validate_state(self, value: str) -> str:
        value = value.strip().upper()
        if value and not Area.objects.filter(state=value).exists():
            states = Area.objects.order_by("state").values_list("state", flat=True).distinct()
            raise serializers.ValidationError(
                f"No area has state '{value}'; use a USPS code: {', '.join(states)}."
            )
        return value


class AreaDetailSerializer(AreaUsabilityMixin, ModelSerializer):
    marginals = MarginalSerializer(many=True, read_only=True)

    class Meta:
        model = Area
        fields = [
            "id", "name", "kind", "state", "state_name", "fips", "population", "adult_population",
            "county_fips", "county_name", "source", "year", "usable", "unusable_reason",
            "marginals",
        ]  # fmt: skip


# --- the environmental context (read-only output shapes, for the OpenAPI schema) --------------


class CompositionSerializer(Serializer):
    shares = serializers.DictField(child=serializers.FloatField(), help_text="category -> share")
    universe = serializers.CharField()
    year = serializers.IntegerField()
    source = serializers.CharField()


class FigureSerializer(Serializer):
    value = serializers.FloatField()
    unit = serializers.CharField()
    year = serializers.IntegerField()
    geography = serializers.CharField(help_text="Where it was measured, if not the area itself")
    source = serializers.CharField()


class CountSerializer(Serializer):
    value = serializers.IntegerField()
    year = serializers.IntegerField()
    source = serializers.CharField()


class DemographicCompositionSerializer(Serializer):
    racial_composition = CompositionSerializer(allow_null=True)
    age_distribution = CompositionSerializer(allow_null=True)
    education_levels = CompositionSerializer(allow_null=True)
    income_distribution = CompositionSerializer(allow_null=True)
    median_household_income = FigureSerializer(allow_null=True)
    adults = CountSerializer(allow_null=True)
    citizens_voting_age = CountSerializer(allow_null=True)


class ElectionSerializer(Serializer):
    year = serializers.IntegerField()
    dem_share = serializers.FloatField(help_text="Democratic votes / all presidential votes")
    gop_share = serializers.FloatField(help_text="Republican votes / all presidential votes")
    dem_two_party_share = serializers.FloatField(allow_null=True)
    margin_points = serializers.FloatField(help_text="(dem_share - gop_share) x 100")
    total_votes = serializers.IntegerField(allow_null=True)
    method = serializers.CharField()
    geography = serializers.CharField()
    source = serializers.CharField()


class MarginChangeSerializer(Serializer):
    from_year = serializers.IntegerField()
    to_year = serializers.IntegerField()
    margin_change_points = serializers.FloatField()


class PoliticalTrendSerializer(MarginChangeSerializer):
    direction = ChoiceField(choices=["toward democratic", "toward republican", "unchanged"])
    by_period = MarginChangeSerializer(many=True)
    method = serializers.CharField()


class PoliticalContextSerializer(Serializer):
    political_lean = ChoiceField(choices=["democratic", "republican", "even"], allow_null=True)
    political_strength = serializers.FloatField(
        allow_null=True, help_text="Absolute margin of the latest election, in points"
    )
    basis = serializers.CharField()
    recent_election_data = serializers.DictField(
        child=ElectionSerializer(), help_text="Keyed by election year"
    )
    trend = PoliticalTrendSerializer(allow_null=True)


class DerivedFigureSerializer(Serializer):
    value = serializers.FloatField()
    formula = serializers.CharField()
    year = serializers.IntegerField()
    source = serializers.CharField()


class IncomePositionSerializer(Serializer):
    ratio = serializers.FloatField(help_text="Area median household income / reference")
    area_value = serializers.FloatField()
    area_year = serializers.IntegerField()
    reference_value = serializers.FloatField()
    reference_year = serializers.IntegerField()
    reference_method = serializers.CharField()
    same_year = serializers.BooleanField()
    caveat = serializers.CharField()


class EconomicPositionSerializer(Serializer):
    relative_to_state = IncomePositionSerializer(allow_null=True)
    relative_to_nation = IncomePositionSerializer(allow_null=True)


class SocialDynamicsSerializer(Serializer):
    cultural_diversity = DerivedFigureSerializer(allow_null=True)
    political_competitiveness = DerivedFigureSerializer(allow_null=True)
    economic_position = EconomicPositionSerializer()


class TrendSerializer(Serializer):
    from_year = serializers.IntegerField()
    to_year = serializers.IntegerField()
    from_value = serializers.FloatField()
    to_value = serializers.FloatField()
    change = serializers.FloatField()
    unit = serializers.CharField()
    geography = serializers.CharField()
    note = serializers.CharField()
    sources = serializers.ListField(child=serializers.CharField())


class EconomicTrendSerializer(Serializer):
    unemployment_rate = TrendSerializer(allow_null=True)
    median_household_income = TrendSerializer(allow_null=True)


class EconomicIndicatorsSerializer(Serializer):
    unemployment_rate = FigureSerializer(allow_null=True)
    median_income = FigureSerializer(allow_null=True)
    economic_trend = EconomicTrendSerializer()


class SourceSerializer(Serializer):
    source = serializers.CharField(help_text="Publisher, table and [bundled file]")
    year = serializers.IntegerField()
    used_for = serializers.ListField(child=serializers.CharField())


class NotAvailableSerializer(Serializer):
    figure = serializers.CharField()
    reason = serializers.CharField()


class EnvironmentalContextSerializer(Serializer):
    area_id = serializers.CharField()
    location_name = serializers.CharField()
    kind = ChoiceField(choices=Area.Kind.choices)
    state = serializers.CharField(help_text="USPS state code")
    state_name = serializers.CharField()
    demographic_composition = DemographicCompositionSerializer()
    political_context = PoliticalContextSerializer()
    social_dynamics = SocialDynamicsSerializer()
    economic_indicators = EconomicIndicatorsSerializer()
    sources = SourceSerializer(many=True)
    not_available = NotAvailableSerializer(many=True)
