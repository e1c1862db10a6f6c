"""Request and response shapes of the market endpoint (the seed's "API Specifications")."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from studies.backends.registry import BACKENDS


class TargetMarketSerializer(serializers.Serializer):
    age_min = serializers.IntegerField(required=False, min_value=18)
    age_max = serializers.IntegerField(required=False, min_value=18)
    income = serializers.ListField(
        child=serializers.CharField(max_length=20),
        required=False,
        help_text="Platform income codes (lt_25k … 150k_plus) or the seed's (50k_75k, 75k_100k, "
        "over_100k, …)",
    )


class MarketAnalysisRequestSerializer(serializers.Serializer):
    product_name = serializers.CharField(max_length=200)
    product_description = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )
    price_points = serializers.ListField(
        child=serializers.FloatField(min_value=0.01),
        min_length=2,
        max_length=12,
        help_text="Each price is a condition: a persona sees one",
    )
    target_areas = serializers.ListField(child=serializers.SlugField(max_length=80), min_length=1)
    population_size = serializers.IntegerField(default=1000, min_value=1)
    include_social_conformity = serializers.BooleanField(default=True)
    target_market = TargetMarketSerializer(
        required=False, help_text="Who the product is for; personas are drawn within it"
    )
    backend = serializers.ChoiceField(choices=[], default="llm")
    backend_config = serializers.DictField(required=False, default=dict)
    budget = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=Decimal("0.0001"), required=False,
        allow_null=True,
    )  # fmt: skip
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = sorted(BACKENDS)


class MarketAnalysisStartedSerializer(serializers.Serializer):
    analysis_id = serializers.IntegerField()
    scenario_id = serializers.CharField()
    analysis_url = serializers.CharField()
    run_id = serializers.IntegerField()
    run_page_url = serializers.CharField()
    websocket_url = serializers.CharField()
    status = serializers.CharField()


class MarketAnalysisReportSerializer(serializers.Serializer):
    analysis_id = serializers.IntegerField()
    scenario_id = serializers.CharField(help_text="mkt_<product>_env_<yyyymmdd>_<analysis id>")
    status = serializers.CharField()
    progress = serializers.JSONField(help_text="{personas_done, personas_total, personas_failed}")
    run_id = serializers.IntegerField()
    run_page_url = serializers.CharField()
    websocket_url = serializers.CharField()
    target_market_size = serializers.IntegerField(
        allow_null=True,
        help_text="People in the target across the areas (census adults × target share)",
    )
    target_market_by_area = serializers.JSONField(help_text="Per area: adults, share, people")
    optimal_price = serializers.FloatField(
        required=False, allow_null=True, help_text="Price maximising price × intent"
    )
    optimal_price_interval = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        required=False,
        help_text="95% percentile bootstrap interval of the optimal price",
    )
    purchase_intent_by_price = serializers.JSONField(
        required=False, help_text="Per price: top-two-box intent with its Wilson interval"
    )
    revenue_projections = serializers.JSONField(
        required=False, help_text="Per price: price × intent, and × target_market_size"
    )
    environmental_results = serializers.JSONField(
        required=False, help_text="Per area: intent, its demand curve and optimal price"
    )
    method = serializers.CharField(required=False)
    not_available = serializers.ListField(child=serializers.DictField(), required=False)
