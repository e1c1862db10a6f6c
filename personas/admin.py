from django.contrib import admin

from personas.models import Persona, Population, PopulationArea


class PopulationAreaInline(admin.TabularInline):
    model = PopulationArea
    extra = 0
    raw_id_fields = ["area"]


@admin.register(Population)
class PopulationAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "size", "seed", "status", "created_at", "created_by"]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "areas__area__name"]
    inlines = [PopulationAreaInline]


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "population",
        "index",
        "area",
        "age",
        "sex",
        "race_ethnicity",
        "education",
        "income",
    ]
    list_filter = ["sex", "age_bracket", "race_ethnicity", "education", "income", "area__state"]
    search_fields = ["area__name", "population__name"]
    list_select_related = ["population", "area"]
    raw_id_fields = ["population", "area"]
