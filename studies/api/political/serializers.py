"""Request and response shapes of the political endpoints (the seed's "API Specifications")."""

from __future__ import annotations

from rest_framework import serializers

from config.api import Serializer
from environment.categories import DIMENSIONS
from personas.api.serializers import ConstraintsInputSerializer
from studies.analyzers.policy_stance import STANCES
from studies.analyzers.policy_support import THRESHOLD
from studies.api.serializers import budget_field
from studies.api.shapes import (
    AdjustedTestResultSerializer,
    FieldNotAvailableSerializer,
    IntervalSerializer,
    PressureAssociationSerializer,
    ProgressSerializer,
    ShareSerializer,
)
from studies.backends.registry import BACKENDS
from studies.services.political import PROXY_MIN_SCORE, PROXY_MIN_TEXT_SIMILARITY


class PolicyAnalysisRequestSerializer(Serializer):
    policy_description = serializers.CharField(
        max_length=2000,
        help_text='The policy as personas read it, e.g. "Universal healthcare system"',
    )
    policy_topic = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="A topic tag (e.g. healthcare, abortion); offline it steers the choice of the "
        "poll question standing in for the policy",
    )
    target_areas = serializers.ListField(
        child=serializers.SlugField(max_length=80),
        required=False,
        default=list,
        help_text="Area ids (e.g. dallas_tx_city); personas are split by adult population. None: "
        "the 50 states and DC (a national sample)",
    )
    population_size = serializers.IntegerField(
        default=1000, min_value=1, help_text="Personas to generate (at most POPULATION_MAX_SIZE)"
    )
    demographic_constraints = ConstraintsInputSerializer(
        required=False,
        help_text='Who may be in the population, e.g. {"age_min": 18, "age_max": 65, "income": '
        '["lt_25k"]}; census-proportional within them',
    )
    include_environmental_effects = serializers.BooleanField(
        default=True,
        help_text="analyze-environmental: report per-area results and social-pressure "
        "associations (environmental_results, environmental_insights)",
    )
    include_social_conformity = serializers.BooleanField(
        default=True, help_text="Include the conformity pressure among the pressures reported"
    )
    messages = serializers.ListField(
        child=serializers.CharField(max_length=2000),
        required=False,
        default=list,
        max_length=10,
        help_text="Messages to test (LLM backend): each becomes a condition shown before the "
        "question, compared with a control condition without a message",
    )
    target_demographics = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        default=list,
        help_text="Dimensions the message lifts are broken down by (default: all of "
        + ", ".join(DIMENSIONS)
        + ")",
    )
    stances = serializers.DictField(
        child=serializers.ChoiceField(choices=list(STANCES)),
        required=False,
        default=dict,
        help_text="Offline: the poll question's option codes -> support | oppose | neutral, when "
        "its option labels do not say (default: read from the labels by the documented rule)",
    )
    poll_question = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A poll question that asks this policy (skips the relevance proxy)",
    )
    backend = serializers.ChoiceField(
        choices=[],
        default="poll_model",
        help_text="poll_model (offline, default), poll_cell (offline) or llm",
    )
    backend_config = serializers.DictField(
        required=False,
        default=dict,
        help_text='For the LLM backend: {"llm": {"provider", "model", ...}, "engine": {...}}, as '
        "for /api/v1/runs/. Keys come from the environment, never from here.",
    )
    budget = budget_field()
    seed = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**63 - 1,
        help_text="Same seed, same personas and answers",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = sorted(BACKENDS)

    def validate_target_demographics(self, value: list[str]) -> list[str]:
        # A plain list of names, not a choice field: the dimension enum is named elsewhere in
        # the schema already.
        unknown = [v for v in value if v not in DIMENSIONS]
        if unknown:
            raise serializers.ValidationError(
                f"unknown dimension(s) {', '.join(unknown)}; use {', '.join(DIMENSIONS)}"
            )
        return value

    def to_internal_value(self, data):
        # A misspelt option must not vanish silently.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {k: [f"unknown field; use one of {', '.join(self.fields)}"] for k in unknown}
                )
        return super().to_internal_value(data)


class ProxyThresholdsSerializer(Serializer):
    score = serializers.FloatField(help_text="Least relevance score a proxy needs")
    text_similarity = serializers.FloatField(help_text="Least wording similarity a proxy needs")


class ProxySerializer(Serializer):
    """The poll question answering for the policy offline, and why it was chosen."""

    question_id = serializers.IntegerField()
    question_code = serializers.CharField()
    wording = serializers.CharField(help_text="The question personas answered")
    poll = serializers.CharField(help_text="The poll's slug")
    poll_title = serializers.CharField()
    poll_year = serializers.IntegerField(allow_null=True)
    score = serializers.FloatField(help_text="Relevance score of the poll selector")
    score_parts = serializers.DictField(
        child=serializers.FloatField(), help_text="The parts the score is made of"
    )
    matched_topics = serializers.ListField(child=serializers.CharField())
    thresholds = ProxyThresholdsSerializer()
    note = serializers.CharField()


class PolicyAnalysisStartedSerializer(Serializer):
    analysis_id = serializers.IntegerField(help_text="GET /api/v1/political/analyses/<id>/")
    scenario_id = serializers.CharField(help_text="pol_<topic>[_env]_<yyyymmdd>_<analysis id>")
    analysis_url = serializers.CharField()
    run_id = serializers.IntegerField()
    run_page_url = serializers.CharField(help_text="The run's live page in the browser")
    websocket_url = serializers.CharField(help_text="The run's progress WebSocket path")
    status = serializers.CharField()
    proxy = ProxySerializer(
        allow_null=True, help_text="Offline: the poll question answering for the policy"
    )


class SignificanceTestSerializer(AdjustedTestResultSerializer):
    dimension = serializers.CharField(help_text="area or a demographic dimension")
    groups = serializers.IntegerField(help_text="Categories with personas")


class StatisticalSignificanceSerializer(Serializer):
    correction = serializers.CharField(help_text="holm: across the dimensions")
    tests = SignificanceTestSerializer(many=True)


class SwingNearThresholdSerializer(Serializer):
    dimension = serializers.CharField()
    category = serializers.CharField()
    label = serializers.CharField()
    n = serializers.IntegerField()
    two_way_support = ShareSerializer(help_text="Support among personas who took a side")


class SwingMoverSerializer(AdjustedTestResultSerializer):
    dimension = serializers.CharField()
    category = serializers.CharField()
    label = serializers.CharField()
    across = serializers.CharField(help_text="area or condition")
    range = serializers.FloatField(help_text="max − min of the group's support share across cells")
    support_by = serializers.DictField(
        child=serializers.FloatField(), help_text="Support share per area / condition"
    )
    n = serializers.IntegerField(help_text="Personas in the cells compared")


class SwingSerializer(Serializer):
    definition = serializers.CharField()
    near_threshold = SwingNearThresholdSerializer(many=True)
    movers_between_areas = SwingMoverSerializer(many=True)
    movers_between_conditions = SwingMoverSerializer(many=True)


class PressureEffectSerializer(Serializer):
    pressure = serializers.CharField()
    mean_pressure = serializers.FloatField(allow_null=True, help_text="Mean over the area (0..1)")
    personas = serializers.IntegerField(help_text="Personas it could be derived for")


class PolicyEnvironmentalInsightsSerializer(Serializer):
    key_pressure_types = serializers.ListField(
        child=serializers.CharField(),
        help_text="Pressures significantly associated with support, strongest first",
    )
    pressure_associations = PressureAssociationSerializer(many=True)
    geographic_variation = serializers.FloatField(
        required=False, help_text="max − min of the areas' support shares (two areas or more)"
    )
    geographic_variation_interval = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        required=False,
        help_text="Seeded percentile bootstrap interval, resampling personas within each area",
    )


class RunnerUpSerializer(Serializer):
    condition = serializers.CharField()
    difference = serializers.FloatField(
        allow_null=True, help_text="Best message's support − the runner-up's"
    )
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p = serializers.FloatField(allow_null=True, help_text="Two-proportion z-test")


class BestMessageSerializer(Serializer):
    condition = serializers.CharField()
    lift = serializers.FloatField()
    within_noise = serializers.BooleanField()
    warnings = serializers.ListField(child=serializers.CharField())
    runner_up = RunnerUpSerializer(allow_null=True)


class MessageLiftSerializer(Serializer):
    condition = serializers.CharField(help_text="The message's condition code")
    n = serializers.IntegerField()
    control_n = serializers.IntegerField()
    support = serializers.FloatField(allow_null=True)
    control_support = serializers.FloatField(allow_null=True)
    lift = serializers.FloatField(allow_null=True, help_text="support − control_support")
    ci_low = serializers.FloatField(allow_null=True, help_text="Newcombe 95% interval")
    ci_high = serializers.FloatField(allow_null=True)
    interval = serializers.CharField(required=False)
    test = serializers.CharField(required=False)
    z = serializers.FloatField(allow_null=True)
    p = serializers.FloatField(allow_null=True)
    p_adjusted = serializers.FloatField(allow_null=True, help_text="Holm across the messages")
    significant = serializers.BooleanField()


class MessageSegmentSerializer(Serializer):
    lifts = MessageLiftSerializer(many=True)
    best = BestMessageSerializer(allow_null=True)


class MessageSegmentGroupSerializer(MessageSegmentSerializer):
    category = serializers.CharField()
    label = serializers.CharField()


class MessageOptimizationSerializer(Serializer):
    control = serializers.CharField(help_text="The control condition's code")
    correction = serializers.CharField()
    overall = MessageSegmentSerializer()
    by_segment = serializers.DictField(
        child=MessageSegmentGroupSerializer(many=True),
        help_text="Per target dimension: the lifts within each category",
    )


class GroupSupportSerializer(Serializer):
    category = serializers.CharField()
    label = serializers.CharField()
    n = serializers.IntegerField(help_text="Personas in the group")
    support = serializers.FloatField(allow_null=True, help_text="Share choosing a support option")
    support_interval = serializers.ListField(
        child=serializers.FloatField(allow_null=True), help_text="95% Wilson interval of support"
    )
    opposition = serializers.FloatField(allow_null=True)
    opposition_interval = serializers.ListField(child=serializers.FloatField(allow_null=True))
    neutral = serializers.FloatField(allow_null=True)
    two_way_support = serializers.FloatField(
        allow_null=True, help_text="Support among the personas who took a side"
    )
    net_support = IntervalSerializer(
        help_text="support − opposition, with a seeded 95% percentile bootstrap interval"
    )


class AreaResultSerializer(GroupSupportSerializer):
    name = serializers.CharField()
    mean_pressures = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="Mean of each social pressure (0..1) over the area's personas",
    )
    social_pressure_effects = PressureEffectSerializer(
        many=True,
        help_text="Each pressure's mean in the area and the personas it could be derived for",
    )


class PolicyAnalysisReportSerializer(Serializer):
    """A policy analysis: its run's state and, once finished, the seed's figures."""

    analysis_id = serializers.IntegerField()
    scenario_id = serializers.CharField(help_text="pol_<topic>[_env]_<yyyymmdd>_<analysis id>")
    status = serializers.CharField(help_text="The run's status: queued, running, completed, ...")
    progress = ProgressSerializer(help_text="Personas answered so far")
    run_id = serializers.IntegerField()
    run_page_url = serializers.CharField()
    websocket_url = serializers.CharField()
    error_message = serializers.CharField(required=False, help_text="Why the run failed")
    policy_description = serializers.CharField()
    policy_topic = serializers.CharField()
    backend = serializers.CharField()
    proxy = ProxySerializer(
        allow_null=True,
        help_text="Offline: the poll question personas answered in place of the policy (id, "
        f"wording, poll, relevance score and its parts); chosen only when its score is at least "
        f"{PROXY_MIN_SCORE} and its wording similarity at least {PROXY_MIN_TEXT_SIMILARITY}",
    )
    stances = serializers.DictField(
        child=serializers.CharField(), help_text="Option code -> support | oppose | neutral"
    )
    stance_source = serializers.CharField(help_text="explicit, or inferred from option labels")
    sample_size = serializers.IntegerField(
        required=False,
        help_text="Personas whose answer has a stance (the control arm with messages)",
    )
    describes = serializers.CharField(required=False, help_text="Whom the figures describe")
    overall_support = serializers.FloatField(
        required=False, allow_null=True, help_text="Share of personas choosing a support option"
    )
    overall_opposition = serializers.FloatField(
        required=False, allow_null=True, help_text="Share of personas choosing an oppose option"
    )
    overall_neutral = serializers.FloatField(required=False, allow_null=True)
    confidence_interval = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        required=False,
        help_text="95% Wilson score interval of overall_support (statsmodels proportion_confint)",
    )
    opposition_confidence_interval = serializers.ListField(
        child=serializers.FloatField(allow_null=True), required=False
    )
    two_way_support = ShareSerializer(
        required=False, help_text="Support among personas who took a side, with Wilson interval"
    )
    net_support = IntervalSerializer(
        required=False, help_text="support − opposition with a seeded bootstrap interval"
    )
    demographic_breakdowns = serializers.DictField(
        child=GroupSupportSerializer(many=True),
        required=False,
        help_text="Per dimension (" + ", ".join(DIMENSIONS) + "): support in each category",
    )
    area_breakdown = GroupSupportSerializer(many=True, required=False)
    statistical_significance = StatisticalSignificanceSerializer(
        required=False,
        help_text="Whether support differs between areas and between the categories of each "
        "dimension, Holm-corrected across the dimensions; the test is Pearson's chi-square of category × stance "
        "(scipy chi2_contingency), Fisher's exact when an expected count is below 5. (The seed "
        "shows one number; a test is only meaningful with its name and what it compares.)",
    )
    swing_demographics = SwingSerializer(
        required=False,
        help_text=f"{{definition, near_threshold, movers_between_areas, "
        f"movers_between_conditions}}: groups whose two-way support interval contains "
        f"{THRESHOLD:.0%}, and groups whose support moves most between areas / conditions",
    )
    environmental_results = serializers.DictField(
        child=AreaResultSerializer(),
        required=False,
        help_text="analyze-environmental: per area id, support with its interval and the area's "
        "mean social pressures",
    )
    environmental_insights = PolicyEnvironmentalInsightsSerializer(
        required=False,
        help_text="analyze-environmental: key_pressure_types (pressures significantly associated "
        "with support, strongest first), pressure_associations (point-biserial r across personas "
        "between supporting and each pressure, Holm-corrected; an association, not a causal "
        "effect), geographic_variation (max − min of the areas' support shares) and its "
        "bootstrap interval",
    )
    message_optimization = MessageOptimizationSerializer(
        required=False,
        help_text="With messages: each message's lift over control (support share difference, "
        "Newcombe interval, two-proportion z-test, Holm-corrected), overall and per category of "
        "the target demographics, the best message per segment and whether it is within noise",
    )
    method = serializers.CharField(required=False, help_text="Every statistic, named")
    caveat = serializers.CharField(required=False)
    not_available = FieldNotAvailableSerializer(
        many=True,
        required=False,
        help_text="Fields of the seed's shape the platform cannot compute "
        "honestly, left out rather than made up",
    )
