from __future__ import annotations

from rest_framework import serializers

from validation.models import ValidationRun


class ValidationRunCreateSerializer(serializers.Serializer):
    question = serializers.IntegerField(help_text="Poll question id")
    holdout_fraction = serializers.FloatField(default=0.2, help_text="Share held out, in (0, 1)")
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**63 - 1)
    min_group = serializers.IntegerField(
        default=30, min_value=1, help_text="Smallest group reported"
    )


class ValidationRunSerializer(serializers.ModelSerializer):
    poll = serializers.CharField(source="question.poll.slug", read_only=True)

    class Meta:
        model = ValidationRun
        fields = ["id", "question", "poll", "method", "holdout_fraction", "seed", "min_cell",
                  "n_train", "n_test", "metrics", "created_at"]  # fmt: skip
