from __future__ import annotations

from rest_framework import serializers

from config.api import ChoiceField, ModelSerializer, QuerySerializer, Serializer
from validation.models import ValidationRun


class ValidationRunCreateSerializer(Serializer):
    question = serializers.IntegerField(help_text="Poll question id")
    holdout_fraction = serializers.FloatField(default=0.2, help_text="Share held out, in (0, 1)")
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**63 - 1)
    min_group = serializers.IntegerField(
        default=30,
        min_value=1,
        help_text="Smallest group summarised in large_groups (smaller ones are reported, flagged)",
    )
    llm = serializers.DictField(
        required=False,
        help_text="Also ask the held-out respondents as personas through the LLM backend: its "
        'run config, e.g. {"llm": {"provider": "openai", "model": "gpt-4o-mini"}}',
    )
    llm_personas = serializers.IntegerField(
        default=100, min_value=1, max_value=500, help_text="Held-out respondents the LLM is asked"
    )


class ValidationDesignCreateSerializer(Serializer):
    question = serializers.IntegerField(help_text="Poll question id")
    design = ChoiceField(
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


class ValidationRunSerializer(ModelSerializer):
    poll = serializers.CharField(source="question.poll.slug", read_only=True)

    class Meta:
        model = ValidationRun
        fields = ["id", "question", "poll", "design", "status", "params", "progress",
                  "error_message", "method", "holdout_fraction", "seed", "min_cell",
                  "n_train", "n_test", "metrics", "created_at"]  # fmt: skip


class AccuracyReportQuerySerializer(QuerySerializer):
    days = serializers.IntegerField(
        default=30,
        min_value=1,
        max_value=3650,
        help_text="Window: runs created in the last `days` days (1 to 3650)",
    )


def _share(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class TopicAccuracySerializer(Serializer):
    accuracy = _share(
        "Mean 1 − total variation of the platform's backend, over the topic's questions"
    )
    questions = serializers.IntegerField(help_text="Questions of the topic validated in the window")


class BackendAccuracySerializer(Serializer):
    accuracy = _share("Mean 1 − total variation over the whole held-out samples")
    coverage = _share("Mean share of (group, option) 95% intervals covering the observed share")
    ece = _share("Mean expected calibration error (validation.calibration)")
    questions = serializers.IntegerField(help_text="Questions on which this method was scored")


class TrendPointSerializer(Serializer):
    date = serializers.DateField(help_text="Day the runs were created (UTC)")
    accuracy = _share("Mean 1 − total variation of the platform's backend over the day's runs")
    runs = serializers.IntegerField(help_text="Held-out runs created that day")


class EnvironmentalImprovementsSerializer(Serializer):
    baseline_vs_environmental = _share(
        "1 − mean held-out-state MAE with area predictors / without (leave-areas-out runs)"
    )
    lift_points = _share("Mean held-out-state MAE without minus with area predictors, in points")
    geographic_prediction_accuracy = _share(
        "Mean 1 − size-weighted total variation across the states with n >= min_group"
    )


class RunCountsSerializer(Serializer):
    holdout = serializers.IntegerField(help_text="Completed held-out runs in the window")
    holdout_questions = serializers.IntegerField(help_text="Questions with a held-out run")
    leave_areas_out_questions = serializers.IntegerField(
        help_text="Questions with a completed leave-areas-out run"
    )
    failed = serializers.IntegerField(help_text="Runs that failed in the window")


class RecommendationSerializer(Serializer):
    code = serializers.CharField(help_text="Kind of weakness, e.g. weak_topic, coverage_off")
    message = serializers.CharField(help_text="What was measured and what to do about it")
    measurement = serializers.CharField(
        help_text="The report field (dotted path) or run metric the advice comes from"
    )
    value = serializers.FloatField(allow_null=True, help_text="The measured value")
    threshold = serializers.FloatField(
        allow_null=True, help_text="The threshold it crossed (none for a count of problems)"
    )


class CalibrationBinSerializer(Serializer):
    bin = serializers.ListField(child=serializers.FloatField(), help_text="[low, high) edges")
    count = serializers.IntegerField(help_text="(respondent, option) forecasts in the bin")
    mean_predicted = serializers.FloatField(help_text="Mean predicted probability in the bin")
    observed_frequency = serializers.FloatField(help_text="Share of those options chosen")


class CalibrationSerializer(Serializer):
    forecasts = serializers.IntegerField(help_text="(respondent, option) forecasts pooled")
    ece = _share("Expected calibration error of the pooled table")
    bins = CalibrationBinSerializer(many=True)


class AccuracyReportSerializer(Serializer):
    report_id = serializers.CharField(help_text="acc_rpt_<date>_<days>d")
    days = serializers.IntegerField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    runs = RunCountsSerializer()
    overall_accuracy = _share(
        "Mean over the questions (latest held-out run each) of 1 − total variation of the "
        "platform's backend (poll_model, else poll-cell) over the whole held-out sample"
    )
    environmental_accuracy = _share(
        "Mean 1 − total variation in held-out states with area predictors (leave-areas-out)"
    )
    accuracy_by_topic = serializers.DictField(
        child=TopicAccuracySerializer(), help_text="Per topic tag ('untagged' without one)"
    )
    accuracy_by_backend = serializers.DictField(
        child=BackendAccuracySerializer(), help_text="Per method scored, baselines included"
    )
    calibration = serializers.DictField(
        child=CalibrationSerializer(),
        help_text="Per method, the reliability table pooled over the latest held-out runs",
    )
    accuracy_trend = TrendPointSerializer(many=True, help_text="Per day, every held-out run")
    environmental_improvements = EnvironmentalImprovementsSerializer()
    recommendations = RecommendationSerializer(
        many=True, help_text="Advice from measured weaknesses, each naming its measurement"
    )
    definitions = serializers.DictField(
        child=serializers.CharField(), help_text="How each figure is computed"
    )
