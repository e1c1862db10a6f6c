from __future__ import annotations

from rest_framework import serializers

from validation.models import ValidationRun


class ValidationRunCreateSerializer(serializers.Serializer):
    question = serializers.IntegerField(help_text="Poll question id")
    holdout_fraction = serializers.FloatField(default=0.2, help_text="Share held out, in (0, 1)")
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**63 - 1)
    min_group = serializers.IntegerField(
        default=30,
        min_value=1,
        help_text="Smallest group summarised in large_groups (smaller ones are reported, flagged)",
    )


class ValidationDesignCreateSerializer(serializers.Serializer):
    question = serializers.IntegerField(help_text="Poll question id")
    design = serializers.ChoiceField(
        choices=[
            (d.value, d.label) for d in ValidationRun.Design if d != ValidationRun.Design.HOLDOUT
        ]
    )
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="subsample: size, seeds, min_state_respondents, area_predictors; "
        "leave_areas_out: held_out, seeds, min_state_respondents; official_results: "
        "option_code, party ('dem'|'gop'), election_year, two_party, min_state_respondents",
    )
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**31 - 1)


class ValidationRunSerializer(serializers.ModelSerializer):
    poll = serializers.CharField(source="question.poll.slug", read_only=True)

    class Meta:
        model = ValidationRun
        fields = ["id", "question", "poll", "design", "status", "params", "progress",
                  "error_message", "method", "holdout_fraction", "seed", "min_cell",
                  "n_train", "n_test", "metrics", "created_at"]  # fmt: skip
