from django.contrib import admin

from environment.models import Area, DemographicMarginal


class MarginalInline(admin.TabularInline):
    model = DemographicMarginal
    extra = 0
    fields = ["dimension", "category", "share", "universe", "source", "year"]


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "kind",
        "state",
        "population",
        "adult_population",
        "county_name",
        "year",
    ]
    list_filter = ["kind", "state", "year"]
    search_fields = ["id", "name", "state_name", "county_name"]
    inlines = [MarginalInline]


@admin.register(DemographicMarginal)
class DemographicMarginalAdmin(admin.ModelAdmin):
    list_display = ["area", "dimension", "category", "share", "universe", "year"]
    list_filter = ["dimension", "year", "area__kind"]
    search_fields = ["area__id", "area__name", "category", "source"]
    list_select_related = ["area"]
