from django.contrib import admin

from environment.models import (
    Area,
    DataGap,
    DemographicMarginal,
    EconomicIndicator,
    ElectionResult,
)


class MarginalInline(admin.TabularInline):
    model = DemographicMarginal
    extra = 0
    fields = ["dimension", "category", "share", "universe", "source", "year"]


class ElectionResultInline(admin.TabularInline):
    model = ElectionResult
    extra = 0
    fields = ["year", "dem_share", "gop_share", "total_votes", "geography", "source"]


class EconomicIndicatorInline(admin.TabularInline):
    model = EconomicIndicator
    extra = 0
    fields = ["indicator", "year", "value", "unit", "geography", "source"]


class DataGapInline(admin.TabularInline):
    model = DataGap
    extra = 0
    fields = ["figure", "reason"]


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "kind",
        "state",
        "population",
        "adult_population",
        "citizens_voting_age",
        "county_name",
        "year",
    ]
    list_filter = ["kind", "state", "year"]
    search_fields = ["id", "name", "state_name", "county_name"]
    inlines = [MarginalInline, ElectionResultInline, EconomicIndicatorInline, DataGapInline]


@admin.register(DemographicMarginal)
class DemographicMarginalAdmin(admin.ModelAdmin):
    list_display = ["area", "dimension", "category", "share", "universe", "year"]
    list_filter = ["dimension", "year", "area__kind"]
    search_fields = ["area__id", "area__name", "category", "source"]
    list_select_related = ["area"]


@admin.register(ElectionResult)
class ElectionResultAdmin(admin.ModelAdmin):
    list_display = ["area", "year", "dem_share", "gop_share", "total_votes", "geography"]
    list_filter = ["year", "area__kind", "area__state"]
    search_fields = ["area__id", "area__name", "geography", "source"]
    list_select_related = ["area"]


@admin.register(EconomicIndicator)
class EconomicIndicatorAdmin(admin.ModelAdmin):
    list_display = ["area", "indicator", "year", "value", "unit", "geography"]
    list_filter = ["indicator", "year", "area__kind", "area__state"]
    search_fields = ["area__id", "area__name", "geography", "source"]
    list_select_related = ["area"]


@admin.register(DataGap)
class DataGapAdmin(admin.ModelAdmin):
    list_display = ["area", "figure", "reason"]
    list_filter = ["figure", "area__kind"]
    search_fields = ["area__id", "area__name", "figure", "reason"]
    list_select_related = ["area"]
