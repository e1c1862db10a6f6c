"""Request and response shapes of the market endpoint (the seed's "API Specifications")."""

from __future__ import annotations

from rest_framework import serializers

from config.api import Serializer
from studies.analyzers.features import FORMATS, RANKING
from studies.analyzers.market import STRENGTH
from studies.analyzers.segments import K_MAX, K_MIN, STRUCTURE
from studies.api.serializers import backend_config_field, budget_field
from studies.api.shapes import (
    AdjustedTestResultSerializer,
    FieldNotAvailableSerializer,
    IntervalSerializer,
    PressureAssociationSerializer,
    ProgressSerializer,
    ShareIntervalSerializer,
    TestResultSerializer,
)
from studies.backends.registry import BACKENDS

#: Features one analysis may compare (a ranking of more is hard to answer faithfully).
MAX_FEATURES = 10


class TargetMarketSerializer(Serializer):
    age_min = serializers.IntegerField(required=False, min_value=18)
    age_max = serializers.IntegerField(required=False, min_value=18)
    income = serializers.ListField(
        child=serializers.CharField(max_length=20),
        required=False,
        help_text="Platform income codes (lt_25k … 150k_plus) or the seed's (50k_75k, 75k_100k, "
        "over_100k, …)",
    )


class MarketAnalysisRequestSerializer(Serializer):
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
    backend_config = backend_config_field()
    budget = budget_field()
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


class MarketAnalysisStartedSerializer(Serializer):
    analysis_id = serializers.IntegerField()
    scenario_id = serializers.CharField()
    analysis_url = serializers.CharField()
    run_id = serializers.IntegerField()
    run_page_url = serializers.CharField()
    websocket_url = serializers.CharField()
    status = serializers.CharField()


class IntentAtPriceSerializer(Serializer):
    condition = serializers.CharField(help_text="The condition showing this price")
    price = serializers.FloatField()
    n = serializers.IntegerField(help_text="Personas who saw this price")
    buyers = serializers.IntegerField(help_text="Of them, definitely or probably would buy")
    intent = serializers.FloatField(allow_null=True, help_text="buyers / n (top-two-box share)")
    ci_low = serializers.FloatField(allow_null=True, help_text="95% Wilson interval of intent")
    ci_high = serializers.FloatField(allow_null=True)


class RevenueAtPriceSerializer(Serializer):
    price = serializers.FloatField()
    revenue_per_person = serializers.FloatField(allow_null=True, help_text="price × intent")
    projected_revenue = serializers.FloatField(
        allow_null=True, help_text="price × intent × target market size (people)"
    )


class AreaMarketSizeSerializer(Serializer):
    adults = serializers.IntegerField(allow_null=True, help_text="The area's census adults")
    share = serializers.FloatField(help_text="Share of them in the target (age, income)")
    people = serializers.IntegerField(allow_null=True, help_text="round(adults × share)")


class MarketAreaResultSerializer(Serializer):
    name = serializers.CharField()
    purchase_intent = serializers.FloatField(help_text="Top-two-box share over every price")
    intent_by_price = IntentAtPriceSerializer(many=True)
    optimal_price = serializers.FloatField(allow_null=True, help_text="The area's own optimum")
    optimal_price_interval = serializers.ListField(child=serializers.FloatField(allow_null=True))
    target_market_size = serializers.IntegerField(allow_null=True, help_text="People")
    social_pressures = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        required=False,
        help_text="Mean of each social pressure (0..1) over the area's personas",
    )


class LaunchMarketSerializer(Serializer):
    area = serializers.CharField()
    label = serializers.CharField()
    optimal_price = serializers.FloatField()
    revenue_per_person = serializers.FloatField(allow_null=True)
    projected_revenue = serializers.FloatField(allow_null=True)


class MarketEnvironmentalInsightsSerializer(Serializer):
    geographic_variation = serializers.FloatField(
        allow_null=True, help_text="max − min of the areas' purchase intent (two areas or more)"
    )
    geographic_variation_interval = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        help_text="Seeded percentile bootstrap interval, resampling personas within each area",
    )
    conformity_association_strength = serializers.ChoiceField(
        choices=[label for _, label in STRENGTH],
        allow_null=True,
        help_text="|r| of intent with the conformity pressure read by Cohen's conventions; null "
        "unless the association is significant (Holm)",
    )
    key_pressure_types = serializers.ListField(
        child=serializers.CharField(),
        help_text="Pressures significantly associated with intent, strongest first",
    )
    pressure_associations = PressureAssociationSerializer(many=True)
    optimal_launch_markets = serializers.ListField(
        child=serializers.CharField(),
        help_text="Area ids by projected revenue at each area's optimal price, best first",
    )
    launch_market_ranking = LaunchMarketSerializer(many=True)
    method = serializers.CharField()


class FeatureSerializer(Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class FeatureShareSerializer(FeatureSerializer):
    rank = serializers.IntegerField(help_text="1 = most important")
    share = serializers.FloatField(
        allow_null=True, help_text="Mean of the personas' importance shares"
    )
    ci_low = serializers.FloatField(
        allow_null=True, help_text="95% percentile bootstrap over personas"
    )
    ci_high = serializers.FloatField(allow_null=True)


class FeatureSummarySerializer(Serializer):
    n = serializers.IntegerField(help_text="Personas whose answers give importance shares")
    ranking = FeatureShareSerializer(many=True)
    top = serializers.CharField(allow_null=True, help_text="The most important feature's code")
    difference_test = TestResultSerializer(
        allow_null=True,
        help_text="Whether the features differ in importance: Friedman (3+), Wilcoxon (2)",
    )


class FeatureGroupSerializer(FeatureSummarySerializer):
    category = serializers.CharField()
    label = serializers.CharField()


class FeatureTestSerializer(AdjustedTestResultSerializer):
    feature = serializers.CharField()


class FeatureBreakdownSerializer(Serializer):
    groups = FeatureGroupSerializer(many=True)
    tests = FeatureTestSerializer(
        many=True,
        help_text="Per feature: Kruskal-Wallis of the personas' shares across the categories",
    )


class AdjacentDifferenceSerializer(AdjustedTestResultSerializer):
    feature = serializers.CharField()
    next = serializers.CharField(help_text="The feature ranked just below")
    difference = serializers.FloatField(allow_null=True, help_text="Mean paired share difference")


class FeaturePreferencesSerializer(FeatureSummarySerializer):
    method = serializers.CharField()
    format = serializers.CharField(help_text="ranking or rating (feature_format)")
    features = FeatureSerializer(many=True)
    personas_left_out = serializers.IntegerField(
        help_text="Personas without an answer for every feature"
    )
    adjacent_differences = AdjacentDifferenceSerializer(many=True)
    by_segment = serializers.DictField(
        child=FeatureBreakdownSerializer(),
        help_text="area, each demographic dimension and segment (the market segments)",
    )


class SegmentFitSerializer(Serializer):
    k = serializers.IntegerField()
    silhouette = serializers.FloatField(help_text="Mean silhouette (−1..1, higher is better)")
    within_sum_of_squares = serializers.FloatField(help_text="On the standardised columns")


class DominantCategorySerializer(Serializer):
    category = serializers.CharField()
    label = serializers.CharField()
    share = serializers.FloatField(help_text="Share of the segment")
    share_overall = serializers.FloatField(help_text="Share of every persona segmented")


class TraitSerializer(DominantCategorySerializer):
    dimension = serializers.CharField()
    over_representation = serializers.FloatField(help_text="share − share_overall")


class SegmentProfileSerializer(Serializer):
    mean_age = serializers.FloatField()
    dominant = serializers.DictField(
        child=DominantCategorySerializer(), help_text="Per dimension: the most common category"
    )
    distinctive = TraitSerializer(many=True, help_text="The most over-represented categories")


class SegmentIntentSerializer(Serializer):
    n = serializers.IntegerField()
    buyers = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text="Top-two-box share")
    ci_low = serializers.FloatField(allow_null=True, help_text="95% Wilson interval")
    ci_high = serializers.FloatField(allow_null=True)


class SegmentSerializer(Serializer):
    segment = serializers.IntegerField(help_text="1 = the largest")
    size = serializers.IntegerField(help_text="Personas")
    share = serializers.FloatField(help_text="Of the personas segmented")
    profile = SegmentProfileSerializer()
    purchase_intent = SegmentIntentSerializer()
    feature_importance = serializers.DictField(
        child=serializers.FloatField(),
        required=False,
        help_text="With features: the segment's mean importance share of each",
    )
    top_feature = serializers.CharField(required=False)


class MarketSegmentationSerializer(Serializer):
    method = serializers.CharField()
    personas = serializers.IntegerField(help_text="Personas segmented")
    k = serializers.IntegerField(allow_null=True, help_text="Segments; null when not computed")
    not_computed = serializers.CharField(required=False, help_text="Why there are no segments")
    k_fixed = serializers.BooleanField(required=False)
    criterion = serializers.CharField(required=False, help_text="How k was chosen")
    silhouette = serializers.FloatField(required=False, help_text="The chosen k's")
    structure = serializers.ChoiceField(
        choices=[label for _, label in STRUCTURE],
        required=False,
        help_text="The silhouette read as Kaufman and Rousseeuw do: how clear the segments are",
    )
    fit = SegmentFitSerializer(many=True, required=False, help_text="Every k tried")
    columns = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="What k-means clustered on"
    )
    segments = SegmentSerializer(many=True, required=False)
    intent_difference = TestResultSerializer(
        required=False, help_text="Whether intent differs between segments (segment × intent)"
    )


class RecommendationImpactSerializer(ShareIntervalSerializer):
    n = serializers.IntegerField(
        help_text="Personas who did not intend to buy and have a tie who did"
    )


class InfluenceEffectsSerializer(Serializer):
    n = serializers.IntegerField(help_text="Personas")
    intent_before = ShareIntervalSerializer(
        help_text="Top-two-box share of the personas' own answers (influence off)"
    )
    intent_after = ShareIntervalSerializer(
        help_text="Mean probability of the top two boxes after Friedkin–Johnsen rounds"
    )
    group_buying_influence = IntervalSerializer(
        help_text="intent_after − intent_before, with a 95% t interval of the mean paired change"
    )
    peer_recommendation_impact = RecommendationImpactSerializer(
        help_text="Among non-buyers with a buying tie: their mean probability of buying after "
        "influence (0 before)"
    )
    average_influence = serializers.FloatField(
        help_text="Mean total-variation distance a persona's intent distribution moved"
    )
    conformity_pressure = serializers.FloatField(
        help_text="Mean susceptibility × mean disagreement with one's ties before influence"
    )


class PriceInfluenceSerializer(InfluenceEffectsSerializer):
    condition = serializers.CharField()
    price = serializers.FloatField()
    n = serializers.IntegerField(help_text="Personas who saw this price")
    intent_before = ShareIntervalSerializer(required=False)
    intent_after = ShareIntervalSerializer(required=False)
    group_buying_influence = IntervalSerializer(required=False)
    peer_recommendation_impact = RecommendationImpactSerializer(required=False)
    average_influence = serializers.FloatField(required=False)
    conformity_pressure = serializers.FloatField(required=False)
    social_influence_strength = serializers.FloatField(
        required=False, help_text="Share of the spread of intent across personas removed"
    )
    similarity_clustering = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Newman's assortativity of the most likely answers over the ties, after",
    )
    mean_susceptibility = serializers.FloatField(required=False)
    ties = serializers.IntegerField(required=False)
    isolated_personas = serializers.IntegerField(required=False)
    rounds = serializers.IntegerField(required=False, help_text="Friedkin–Johnsen rounds run")
    converged = serializers.BooleanField(required=False)
    not_computed = serializers.CharField(
        required=False, help_text="Why this price has no figures (fewer than two personas)"
    )


class OverallInfluenceSerializer(InfluenceEffectsSerializer):
    optimal_price_before = serializers.FloatField(help_text="argmax price × intent_before")
    optimal_price_after = serializers.FloatField(help_text="argmax price × intent_after")


class MultiAgentEffectsSerializer(Serializer):
    method = serializers.CharField(help_text="How every figure is computed")
    by_price = PriceInfluenceSerializer(many=True, help_text="In price order")
    overall = OverallInfluenceSerializer(
        allow_null=True, help_text="Every persona pooled; null when no price had two personas"
    )
    assumptions = serializers.DictField(
        help_text="The model's parameters that are assumptions, not estimates"
    )


class MarketAnalysisReportSerializer(Serializer):
    analysis_id = serializers.IntegerField()
    scenario_id = serializers.CharField(help_text="mkt_<product>_env_<yyyymmdd>_<analysis id>")
    status = serializers.CharField(help_text="The run's status: queued, running, completed, ...")
    progress = ProgressSerializer()
    run_id = serializers.IntegerField()
    run_page_url = serializers.CharField()
    websocket_url = serializers.CharField()
    target_market_size = serializers.IntegerField(
        allow_null=True,
        help_text="People in the target across the areas (census adults × target share)",
    )
    target_market_by_area = serializers.DictField(
        child=AreaMarketSizeSerializer(), help_text="Per area id"
    )
    optimal_price = serializers.FloatField(
        required=False, allow_null=True, help_text="Price maximising price × intent"
    )
    optimal_price_interval = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        required=False,
        help_text="95% percentile bootstrap interval of the optimal price",
    )
    purchase_intent_by_price = IntentAtPriceSerializer(
        many=True, required=False, help_text="The demand curve, in price order"
    )
    revenue_projections = RevenueAtPriceSerializer(many=True, required=False)
    environmental_results = serializers.DictField(
        child=MarketAreaResultSerializer(),
        required=False,
        help_text="Per area id: intent, its demand curve, optimal price and social pressures",
    )
    environmental_insights = MarketEnvironmentalInsightsSerializer(required=False)
    feature_preferences = FeaturePreferencesSerializer(
        required=False, help_text="With features: importance shares, ranking and segments"
    )
    market_segmentation = MarketSegmentationSerializer(required=False)
    multi_agent_effects = MultiAgentEffectsSerializer(
        required=False,
        help_text="With include_social_conformity (the default): peer influence over the "
        "purchase-intent answers within each price — group buying influence, peer "
        "recommendation impact, average influence and conformity pressure; else listed in "
        "not_available",
    )
    method = serializers.CharField(required=False)
    not_available = FieldNotAvailableSerializer(many=True, required=False)
