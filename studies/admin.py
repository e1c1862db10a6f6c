from django.contrib import admin

from studies.models import Answer, Item, ItemOption, Run, Study


class ItemInline(admin.TabularInline):
    model = Item
    extra = 0
    fields = ["order", "code", "text", "poll_question"]
    raw_id_fields = ["poll_question"]
    show_change_link = True


class ItemOptionInline(admin.TabularInline):
    model = ItemOption
    extra = 0
    raw_id_fields = ["poll_option"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "kind", "created_at", "created_by"]
    list_filter = ["kind", "created_at"]
    search_fields = ["title", "description"]
    inlines = [ItemInline]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["code", "study", "poll_question", "text"]
    search_fields = ["code", "text", "study__title"]
    list_select_related = ["study", "poll_question"]
    raw_id_fields = ["study", "poll_question"]
    inlines = [ItemOptionInline]


@admin.register(ItemOption)
class ItemOptionAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "item", "poll_option"]
    search_fields = ["code", "label", "item__code"]
    list_select_related = ["item"]
    raw_id_fields = ["item", "poll_option"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "study",
        "backend",
        "status",
        "personas_done",
        "personas_total",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "backend", "created_at"]
    search_fields = ["study__title", "error_message"]
    list_select_related = ["study"]
    raw_id_fields = ["study", "population", "created_by"]
    readonly_fields = ["results"]


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "persona", "item", "option", "created_at"]
    list_filter = ["run__backend", "item"]
    search_fields = ["reasoning", "item__code"]
    list_select_related = ["run", "persona", "item", "option"]
    raw_id_fields = ["run", "persona", "item", "option"]
