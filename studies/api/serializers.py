from __future__ import annotations

from rest_framework import serializers

from studies.backends.base import backend_names
from studies.models import Item, ItemOption, Run, Study


class OptionInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=80)
    label = serializers.CharField(max_length=200)


class ItemInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=80)
    text = serializers.CharField()
    poll_question = serializers.IntegerField(
        required=False, allow_null=True, help_text="Id of the poll question grounding this item"
    )
    options = OptionInputSerializer(many=True, required=False, default=list)


class StudyCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Study.Kind.choices, default=Study.Kind.POLICY_SUPPORT)
    items = ItemInputSerializer(many=True)


class ItemOptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ItemOption
        fields = ["id", "code", "label", "poll_option"]


class ItemSerializer(serializers.ModelSerializer):
    options = ItemOptionSerializer(many=True, read_only=True)

    class Meta:
        model = Item
        fields = ["id", "code", "text", "poll_question", "options"]


class StudySerializer(serializers.ModelSerializer):
    items = ItemSerializer(many=True, read_only=True)

    class Meta:
        model = Study
        fields = ["id", "title", "description", "kind", "created_at", "items"]


class RunCreateSerializer(serializers.Serializer):
    study = serializers.IntegerField()
    population = serializers.IntegerField()
    backend = serializers.ChoiceField(choices=[], default="poll_cell")
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    chunk_size = serializers.IntegerField(required=False, min_value=1, max_value=100_000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = backend_names()


class RunSerializer(serializers.ModelSerializer):
    page_url = serializers.SerializerMethodField()
    websocket_path = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id", "study", "population", "backend", "seed", "status", "personas_total",
            "personas_done", "chunk_size", "error_message", "created_at", "started_at",
            "finished_at", "page_url", "websocket_path",
        ]  # fmt: skip

    def get_page_url(self, obj) -> str:
        return f"/runs/{obj.id}/"

    def get_websocket_path(self, obj) -> str:
        return f"/ws/runs/{obj.id}/"


class OptionResultSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()


class GroupResultSerializer(serializers.Serializer):
    category = serializers.CharField()
    label = serializers.CharField()
    n = serializers.IntegerField()
    options = OptionResultSerializer(many=True)


class ItemResultSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    code = serializers.CharField()
    text = serializers.CharField()
    n = serializers.IntegerField()
    options = OptionResultSerializer(many=True)
    breakdowns = serializers.DictField(child=GroupResultSerializer(many=True))


class RunResultsSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    backend = serializers.CharField()
    personas_answered = serializers.IntegerField()
    confidence = serializers.FloatField()
    method = serializers.CharField()
    items = ItemResultSerializer(many=True)
