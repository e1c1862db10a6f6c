"""Response shapes the analysis endpoints share (political and market): intervals, progress,
named tests, associations with social pressures and the fields left out. Output only: they
document the OpenAPI schema of figures the analyzers computed."""

from __future__ import annotations

from rest_framework import serializers

from config.api import Serializer


class IntervalSerializer(Serializer):
    estimate = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True, help_text="Lower end of the 95% interval")
    ci_high = serializers.FloatField(allow_null=True, help_text="Upper end of the 95% interval")


class ShareSerializer(Serializer):
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True, help_text="95% Wilson score interval")
    ci_high = serializers.FloatField(allow_null=True)


class ShareIntervalSerializer(Serializer):
    share = serializers.FloatField(allow_null=True, help_text="null when no persona counts")
    ci_low = serializers.FloatField(allow_null=True, help_text="95% Wilson score interval")
    ci_high = serializers.FloatField(allow_null=True)


class ProgressSerializer(Serializer):
    personas_done = serializers.IntegerField()
    personas_total = serializers.IntegerField()
    personas_failed = serializers.IntegerField()
    fraction = serializers.FloatField(allow_null=True, help_text="personas_done / personas_total")


class TestResultSerializer(Serializer):
    test = serializers.CharField(
        allow_null=True, help_text="The test by name and implementation; null when untestable"
    )
    statistic = serializers.FloatField(allow_null=True)
    df = serializers.FloatField(allow_null=True, help_text="Degrees of freedom, where the test has")
    p = serializers.FloatField(allow_null=True)
    note = serializers.CharField(allow_blank=True, help_text="Why untested, or a caveat")


class AdjustedTestResultSerializer(TestResultSerializer):
    p_adjusted = serializers.FloatField(
        allow_null=True, help_text="Holm-adjusted p across the tests of the same list"
    )
    significant = serializers.BooleanField(help_text="p_adjusted below 0.05")


class PressureAssociationSerializer(Serializer):
    pressure = serializers.CharField(
        help_text="conformity, minority_solidarity, economic, cultural or political"
    )
    n = serializers.IntegerField(help_text="Personas for whom the pressure could be derived")
    measure = serializers.CharField(help_text="How the association is measured")
    r = serializers.FloatField(
        allow_null=True, help_text="Point-biserial correlation across personas"
    )
    p = serializers.FloatField(allow_null=True)
    note = serializers.CharField(allow_blank=True)
    interpretation = serializers.CharField(help_text="An association, never a causal effect")
    p_adjusted = serializers.FloatField(allow_null=True, help_text="Holm across the pressures")
    significant = serializers.BooleanField()


class FieldNotAvailableSerializer(Serializer):
    field = serializers.CharField(help_text="A field of the seed's shape, by its path")
    reason = serializers.CharField(help_text="Why the platform does not compute it honestly")
