"""Request and response shapes of the market endpoint (the seed's "API Specifications")."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from studies.analyzers.features import FORMATS, RANKING
from studies.analyzers.segments import K_MAX, K_MIN
from studies.backends.registry import BACKENDS

#: Features one analysis may compare (a ranking of more is hard to answer faithfully).
MAX_FEATURES = 10


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
    features = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        default=list,
        min_length=2,
        max_length=MAX_FEATURES,
        help_text="The product's features to compare (the seed's analyze_feature_preferences "
        '`features: List[str]`), e.g. ["Voice control", "Privacy mode"]: each persona ranks them '
        "or rates each one's importance (feature_format)",
    )
    feature_format = serializers.ChoiceField(
        choices=list(FORMATS),
        default=RANKING,
        help_text="ranking: one item putting every feature in order; rating: one 1–5 importance "
        "rating per feature",
    )
    segment_count = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=K_MIN,
        max_value=K_MAX,
        help_text=f"Market segments to find ({K_MIN}–{K_MAX}); omit to choose k by the highest "
        "mean silhouette",
    )

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
