from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from config.admin_tables import json_tables
from studies.models import (
    Answer,
    Condition,
    HeldRun,
    Item,
    ItemOption,
    MarketAnalysis,
    PolicyAnalysis,
    Run,
    RunPersona,
    Study,
)
from studies.selection import balance_problems, quota_problems, rule_problems


class ItemInline(admin.TabularInline):
    model = Item
    extra = 0
    fields = ["order", "code", "type", "text", "poll_question"]
    raw_id_fields = ["poll_question"]
    show_change_link = True


class ConditionInline(admin.TabularInline):
    model = Condition
    extra = 0
    fields = ["order", "code", "label", "stimulus"]


class StudyAdminForm(forms.ModelForm):
    """Checks the design fields with the rules the API applies, so the admin cannot store a
    criterion or quota a run would fail on."""

    class Meta:
        model = Study
        fields = [
            "title", "description", "kind", "think_aloud", "time_on_task", "universe",
            "allow_foreign_polls", "assignment", "balance_on", "inclusion", "exclusion", "quotas",
            "depth", "behavioral_measures", "prompt_templates", "created_by",
        ]  # fmt: skip

    def clean(self):
        data = super().clean()
        for name, check in (
            ("inclusion", lambda v: rule_problems(v, "inclusion")),
            ("exclusion", lambda v: rule_problems(v, "exclusion")),
            ("quotas", quota_problems),
            ("balance_on", balance_problems),
        ):
            if name in data:
                for problem in check(data[name]):
                    self.add_error(name, problem)
        return data


class ItemOptionInline(admin.TabularInline):
    model = ItemOption
    extra = 0
    raw_id_fields = ["poll_option"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "kind", "created_at", "created_by"]
    list_filter = ["kind", "think_aloud", "time_on_task", "assignment", "depth", "created_at"]
    list_select_related = ["created_by"]
    list_per_page = 50
    search_fields = ["title", "description"]
    form = StudyAdminForm
    inlines = [ConditionInline, ItemInline]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["code", "type", "study", "poll_question", "text"]
    list_filter = ["type"]
    search_fields = ["code", "text", "study__title"]
    list_select_related = ["study", "poll_question"]
    raw_id_fields = ["study", "poll_question"]
    inlines = [ItemOptionInline]


@admin.register(ItemOption)
class ItemOptionAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "value", "item", "poll_option"]
    search_fields = ["code", "label", "item__code"]
    list_select_related = ["item"]
    raw_id_fields = ["item", "poll_option"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """A run is started and advanced by its services and workers: the admin reads its status,
    counts and results (as tables) and leads to its page; only the budget is editable."""

    list_display = ["id", "study_title", "backend", "status", "progress", "created_at"]
    list_filter = ["status", "backend", "created_at"]
    search_fields = ["study__title", "error_message"]
    list_select_related = ["study"]
    list_per_page = 50
    raw_id_fields = ["study", "population", "created_by"]
    fieldsets = [
        (None, {"fields": ["study", "population", "backend", "status", "error_message"]}),
        (
            "Progress",
            {
                "fields": [
                    "personas_done", "personas_total", "personas_failed", "chunk_size",
                    "resume_count", "created_at", "started_at", "finished_at", "heartbeat_at",
                ]
            },
        ),
        ("Results", {"fields": ["results_tables"]}),
        (
            "Cost",
            {
                "fields": [
                    "budget", "cost_estimate", "cost_spent", "cost_complete", "llm_calls",
                    "cached_calls", "input_tokens", "output_tokens",
                ]
            },
        ),
        (
            "Set-up",
            {
                "classes": ["collapse"],
                "fields": [
                    "seed", "backend_config", "has_participants", "selection", "created_by",
                ],
            },
        ),
    ]  # fmt: skip
    readonly_fields = [
        "study", "population", "backend", "status", "error_message", "personas_done",
        "personas_total", "personas_failed", "chunk_size", "resume_count", "created_at",
        "started_at", "finished_at", "heartbeat_at", "results_tables", "cost_estimate",
        "cost_spent", "cost_complete", "llm_calls", "cached_calls", "input_tokens",
        "output_tokens", "seed", "backend_config", "has_participants", "selection", "created_by",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs start through run_start (the API, the pages, the commands)

    @admin.display(description="study", ordering="study__title")
    def study_title(self, obj: Run) -> str:
        title = obj.study.title
        return title if len(title) <= 48 else f"{title[:47]}…"

    @admin.display(description="personas")
    def progress(self, obj: Run) -> str:
        failed = f" ({obj.personas_failed} failed)" if obj.personas_failed else ""
        return f"{obj.personas_done} / {obj.personas_total}{failed}"

    @admin.display(description="results")
    def results_tables(self, obj: Run):
        if not obj.results:
            return "No results yet (they are stored when the run completes)."
        return json_tables(obj.results)


@admin.register(HeldRun)
class HeldRunAdmin(admin.ModelAdmin):
    """A held run is stored by the study form or an API client and settled by its population's
    build (or the watchdog, or its owner's start or retry): the admin reads it and leads to the
    run it started; deleting one that still waits cancels it."""

    list_display = ["id", "study", "population", "backend", "status", "run", "created_by"]
    list_filter = ["status", "backend", "created_at"]
    search_fields = ["study__title", "error_message"]
    list_select_related = ["study", "population", "run", "created_by"]
    list_per_page = 50
    readonly_fields = [
        "study", "population", "backend", "backend_config", "budget", "seed", "chunk_size",
        "status", "run", "error_message", "created_at", "settled_at", "created_by",
    ]  # fmt: skip
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # held by the study form or the API (studies.services.held_runs)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RunPersona)
class RunPersonaAdmin(admin.ModelAdmin):
    """The persona engine's artefacts per persona and run, and why a persona failed."""

    list_display = [
        "id",
        "run",
        "persona",
        "status",
        "failed_step",
        "narrative_source",
        "llm_calls",
        "cached_calls",
        "cost",
        "created_at",
    ]
    list_filter = ["status", "failed_step", "narrative_source", "run__backend"]
    search_fields = ["failure", "persona__name", "run__study__title"]
    list_select_related = ["run", "persona"]
    raw_id_fields = ["run", "persona"]
    readonly_fields = [
        "profile",
        "context",
        "consistency",
        "experience",
        "response",
        "llm_calls",
        "cached_calls",
        "input_tokens",
        "output_tokens",
        "cost",
    ]


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "persona", "item", "option", "created_at"]
    list_filter = ["run__backend", "item"]
    search_fields = ["reasoning", "item__code"]
    list_select_related = ["run", "persona", "item", "option"]
    raw_id_fields = ["run", "persona", "item", "option"]


class _AnalysisAdmin(admin.ModelAdmin):
    """An analysis is written by its endpoint with its study and run; the admin reads it and
    leads to the run, whose results hold the figures."""

    list_select_related = ["run", "study", "created_by"]
    list_filter = ["created_at", "run__status", "run__backend"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="run", ordering="run_id")
    def run_link(self, obj) -> str:
        return format_html(
            '<a href="{}">Run #{}</a> ({}) · <a href="/runs/{}/">run page</a>',
            reverse("admin:studies_run_change", args=[obj.run_id]),
            obj.run_id,
            obj.run.status,
            obj.run_id,
        )

    @admin.display(description="status", ordering="run__status")
    def run_status(self, obj) -> str:
        return obj.run.status


@admin.register(PolicyAnalysis)
class PolicyAnalysisAdmin(_AnalysisAdmin):
    list_display = [
        "id", "policy_topic", "policy_description", "environmental", "run_link", "run_status",
        "created_by", "created_at",
    ]  # fmt: skip
    list_filter = ["environmental", *_AnalysisAdmin.list_filter]
    search_fields = ["policy_description", "policy_topic"]
    fields = [
        "run_link", "study", "environmental", "policy_description", "policy_topic", "item_code",
        "stances", "stance_source", "proxy", "target_demographics", "request", "created_by",
        "created_at",
    ]  # fmt: skip
    readonly_fields = fields


@admin.register(MarketAnalysis)
class MarketAnalysisAdmin(_AnalysisAdmin):
    list_display = [
        "id", "product_name", "feature_format", "segment_count", "run_link", "run_status",
        "created_by", "created_at",
    ]  # fmt: skip
    list_filter = ["feature_format", *_AnalysisAdmin.list_filter]
    search_fields = ["product_name", "product_description"]
    fields = [
        "run_link", "study", "product_name", "product_description", "item_code", "prices",
        "target_market", "market_size", "features", "feature_format", "segment_count", "request",
        "created_by", "created_at",
    ]  # fmt: skip
    readonly_fields = fields
