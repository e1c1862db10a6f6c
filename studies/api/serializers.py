from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import serializers

from config.api import ChoiceField, ModelSerializer, Serializer
from studies.backends.registry import BACKENDS
from studies.models import Condition, Item, ItemOption, Run, RunPersona, Study
from studies.services.studies import BEHAVIORAL_MEASURES


class OptionInputSerializer(Serializer):
    code = serializers.SlugField(max_length=80)
    label = serializers.CharField(max_length=200)
    value = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Likert items: the option's point on the scale (default: 1..n in order)",
    )
    poll_option = serializers.SlugField(
        max_length=80,
        required=False,
        allow_null=True,
        default=None,
        help_text="Poll-linked items: the poll option code this option stands for (default: its "
        "own code) — e.g. a Likert point mapped onto an ordinal poll answer",
    )


class ItemInputSerializer(Serializer):
    code = serializers.SlugField(max_length=80)
    type = ChoiceField(choices=Item.Type.choices, default=Item.Type.SINGLE_CHOICE)
    text = serializers.CharField(max_length=4000)
    variants = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        default=dict,
        help_text="The item's wording per condition code, where a condition asks it differently",
    )
    poll_question = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Id of the poll question grounding this item (single-choice and Likert items)",
    )
    options = OptionInputSerializer(many=True, required=False, default=list)
    min_value = serializers.FloatField(required=False, allow_null=True, default=None)
    max_value = serializers.FloatField(required=False, allow_null=True, default=None)
    unit = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    max_choices = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=1000
    )


class ConditionInputSerializer(Serializer):
    code = serializers.SlugField(max_length=80)
    label = serializers.CharField(max_length=200)
    stimulus = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="What personas in this condition see before the items (e.g. a message)",
    )


class StudyCreateSerializer(Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = ChoiceField(choices=Study.Kind.choices, default=Study.Kind.POLICY_SUPPORT)
    items = ItemInputSerializer(
        many=True,
        max_length=settings.STUDY_MAX_ITEMS,
        help_text="At most STUDY_MAX_ITEMS (200 by default) items",
    )
    think_aloud = serializers.BooleanField(
        default=False, help_text="Personas write what goes through their head for each item"
    )
    time_on_task = serializers.BooleanField(
        default=False, help_text="Personas give a simulated time on task for each item"
    )
    universe = ChoiceField(
        choices=Study.Universe.choices,
        default=Study.Universe.QUESTION,
        help_text="Whom results describe when a poll question was asked of part of its sample "
        "(e.g. likely voters): 'question' (personas weighted by their modelled probability of "
        "belonging) or 'all_adults'",
    )
    allow_foreign_polls = serializers.BooleanField(
        default=False,
        help_text="Allow items grounded in a poll of another country than the personas' (US); "
        "refused otherwise",
    )
    prompt_templates = serializers.DictField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        default=dict,
        help_text="The study's own prompt templates by step (system, context, consistency, "
        "experience, participation, analyze), in Django template language",
    )
    conditions = ConditionInputSerializer(
        many=True,
        required=False,
        default=list,
        help_text="Experimental arms (two or more; the first is the control the others are "
        "compared with)",
    )
    assignment = ChoiceField(choices=Study.Assignment.choices, default=Study.Assignment.RANDOM)
    balance_on = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Balanced assignment: profile fields besides area whose strata are evened out",
    )
    inclusion = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        default=list,
        help_text='Rules a persona must all meet: {"field": "age", "op": "between", "value": '
        "[18, 34]}; ops eq, ne, in, not_in, gt, gte, lt, lte, between (numbers), contains, "
        "not_contains (lists)",
    )
    exclusion = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        default=list,
        help_text="Rules that exclude a persona when any is met (same shape as inclusion)",
    )
    quotas = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField(min_value=0)),
        required=False,
        default=dict,
        help_text='Participants per value of a categorical field: {"sex": {"female": 15, '
        '"male": 15}}; every field\'s counts add up to the same total',
    )
    depth = ChoiceField(choices=Study.Depth.choices, default=Study.Depth.STANDARD)
    behavioral_measures = serializers.ListField(
        child=ChoiceField(choices=BEHAVIORAL_MEASURES),
        required=False,
        default=list,
        help_text="Behavioural data the LLM personas report per item besides time on task",
    )


class ItemOptionSerializer(ModelSerializer):
    class Meta:
        model = ItemOption
        fields = ["id", "code", "label", "value", "poll_option"]


class ItemSerializer(ModelSerializer):
    options = ItemOptionSerializer(many=True, read_only=True)

    class Meta:
        model = Item
        fields = [
            "id", "code", "type", "text", "variants", "poll_question", "min_value", "max_value",
            "unit", "max_choices", "options",
        ]  # fmt: skip


class ConditionSerializer(ModelSerializer):
    class Meta:
        model = Condition
        fields = ["code", "label", "stimulus"]


class StudySerializer(ModelSerializer):
    items = ItemSerializer(many=True, read_only=True)
    conditions = ConditionSerializer(many=True, read_only=True)

    class Meta:
        model = Study
        fields = [
            "id", "title", "description", "kind", "think_aloud", "time_on_task", "universe",
            "allow_foreign_polls", "prompt_templates", "assignment", "balance_on", "inclusion",
            "exclusion", "quotas", "depth", "behavioral_measures", "created_at", "conditions",
            "items",
        ]  # fmt: skip


BACKEND_CONFIG_HELP = (
    'For the LLM backend: {"llm": {"provider": "openai"|"anthropic"|"compatible", "model": ..., '
    '"temperature", "max_tokens", "seed", "base_url"}, "engine": {"depth": '
    '"shallow"|"standard"|"deep", "consistency_check", "concurrency", "max_attempts", '
    '"grounding_questions"}}. Keys come from the environment, never from here.'
)
BUDGET_HELP = "Cost cap in the model's currency: refused above the estimate, stopped at it"


def backend_config_field(
    *, help_text: str = BACKEND_CONFIG_HELP, default: Any = dict
) -> serializers.DictField:
    """The `backend_config` of a request that starts a run, for every endpoint that takes one
    (`default=serializers.empty` when the endpoint must see whether it was given)."""
    return serializers.DictField(required=False, default=default, help_text=help_text)


def budget_field(*, help_text: str = BUDGET_HELP) -> serializers.DecimalField:
    """The `budget` of a request that starts a run: a cost cap, at least 0.0001, or null. A JSON
    number, as the schema says (JSON types are strict); DRF reads it as a decimal from the
    number's shortest text, so 0.1 is 0.1 exactly."""
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        coerce_to_string=False,
        min_value=Decimal("0.0001"),
        required=False,
        allow_null=True,
        help_text=help_text,
    )


class RunCreateSerializer(Serializer):
    study = serializers.IntegerField()
    population = serializers.IntegerField()
    backend = ChoiceField(choices=[], default="poll_model")
    backend_config = backend_config_field()
    budget = budget_field()
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    chunk_size = serializers.IntegerField(required=False, min_value=1, max_value=100_000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = sorted(BACKENDS)


class RunEstimateInputSerializer(Serializer):
    study = serializers.IntegerField()
    population = serializers.IntegerField()
    backend = ChoiceField(choices=[], default="poll_model")
    backend_config = serializers.DictField(required=False, default=dict)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = sorted(BACKENDS)


class RunEstimateSerializer(Serializer):
    backend = serializers.CharField()
    costs_money = serializers.BooleanField()
    estimate = serializers.DictField(
        allow_null=True,
        help_text="amount (decimal string, null when the model has no price), currency, "
        "price_known, calls, input_tokens, output_tokens, steps, method",
    )


class RunSerializer(ModelSerializer):
    # A number, as a request sends it (`budget_field`), so a run's budget can be sent back as is.
    budget = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        coerce_to_string=False,
        read_only=True,
        allow_null=True,
        help_text="The run's cost cap (a JSON number, as a request sends it), or null.",
    )
    page_url = serializers.SerializerMethodField()
    websocket_path = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id", "study", "population", "backend", "backend_config", "seed", "status",
            "personas_total", "has_participants", "selection", "personas_done",
            "personas_failed", "chunk_size", "error_message",
            "budget", "cost_estimate", "cost_spent", "cost_complete", "llm_calls", "cached_calls",
            "input_tokens", "output_tokens", "created_at", "started_at", "finished_at",
            "page_url", "websocket_path",
        ]  # fmt: skip

    def get_page_url(self, obj) -> str:
        return f"/runs/{obj.id}/"

    def get_websocket_path(self, obj) -> str:
        return f"/ws/runs/{obj.id}/"


class OptionResultSerializer(Serializer):
    """An option's row: share and Wilson interval for single choice, Likert and multiple
    selection; mean rank, first-choice share and Borda score with intervals for a ranking."""

    code = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField(required=False)
    share = serializers.FloatField(required=False)
    ci_low = serializers.FloatField(required=False, allow_null=True)
    ci_high = serializers.FloatField(required=False, allow_null=True)
    mean_rank = serializers.FloatField(required=False, allow_null=True)
    first_share = serializers.FloatField(required=False, allow_null=True)
    borda = serializers.FloatField(required=False, allow_null=True)


class GroupResultSerializer(Serializer):
    category = serializers.CharField(required=False)
    code = serializers.CharField(required=False, help_text="Conditions: the condition's code")
    label = serializers.CharField()
    n = serializers.IntegerField()
    options = OptionResultSerializer(many=True)
    summary = serializers.DictField(required=False, help_text="The item type's summary")


class ComparisonsSerializer(Serializer):
    conditions = serializers.DictField(
        help_text="control, correction ('holm') and tests: each condition vs the control on each "
        "measure, with the difference, its interval (named), the test (named), p, Holm-adjusted p "
        "and significance at 5%"
    )
    groups = serializers.DictField(
        help_text="correction and tests: one omnibus test per area/demographic dimension (named), "
        "p, Holm-adjusted p across the dimensions, significance at 5%"
    )


class ItemResultSerializer(Serializer):
    item_id = serializers.IntegerField()
    code = serializers.CharField()
    text = serializers.CharField()
    type = ChoiceField(choices=Item.Type.choices)
    n = serializers.IntegerField()
    options = OptionResultSerializer(many=True)
    summary = serializers.DictField(
        help_text="Likert: mean with t interval, top-2/bottom-2 box with Wilson intervals; "
        "numeric: mean, median (bootstrap interval), quantiles; multiple selection: mean number "
        "chosen; free text: sample and term frequencies"
    )
    method = serializers.CharField()
    breakdowns = serializers.DictField(child=GroupResultSerializer(many=True))
    conditions = GroupResultSerializer(many=True)
    comparisons = ComparisonsSerializer()
    model_estimate = serializers.DictField(required=False)


class RunResultsSerializer(Serializer):
    run_id = serializers.IntegerField()
    backend = serializers.CharField()
    personas_answered = serializers.IntegerField()
    confidence = serializers.FloatField()
    method = serializers.CharField()
    items = ItemResultSerializer(many=True)
    conditions = serializers.ListField(child=serializers.DictField(), required=False)
    quality = serializers.DictField(
        help_text="Quality control (seed 004 §9.2): flags, ok, limitations, method"
    )


class RunPersonaSerializer(ModelSerializer):
    """One persona's passage through a run, with the engine's artefacts."""

    persona_name = serializers.CharField(source="persona.name", read_only=True)
    export_url = serializers.SerializerMethodField()

    class Meta:
        model = RunPersona
        fields = [
            "persona", "persona_name", "status", "failed_step", "failure", "narrative_source",
            "profile", "context", "consistency", "experience", "response", "llm_calls",
            "cached_calls", "input_tokens", "output_tokens", "cost", "created_at", "export_url",
        ]  # fmt: skip

    def get_export_url(self, obj) -> str:
        return f"/api/v1/runs/{obj.run_id}/personas/{obj.persona_id}/export/"


class RunPersonaSummarySerializer(RunPersonaSerializer):
    class Meta(RunPersonaSerializer.Meta):
        fields = [
            "persona", "persona_name", "status", "failed_step", "failure", "narrative_source",
            "llm_calls", "cached_calls", "input_tokens", "output_tokens", "cost", "export_url",
        ]  # fmt: skip
