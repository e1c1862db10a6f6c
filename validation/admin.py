from django.contrib import admin
from django.utils.html import format_html

from config.admin_tables import json_tables
from validation.models import ValidationRun, ValidationTarget


def _overall_mae(run: ValidationRun, method: str) -> str:
    """A held-out run's whole-sample MAE of one method; area designs have no such figure."""
    scored = run.metrics.get("overall", {}).get("methods", {}).get(method)
    return "—" if scored is None else f"{scored['mae_points']:.2f}"


@admin.register(ValidationRun)
class ValidationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "question_code", "design", "status", "n_test", "model_mae",
                    "poll_model_mae", "marginal_mae", "created_at"]  # fmt: skip
    list_filter = ["design", "status", "method", "question__poll"]
    search_fields = ["question__code", "question__text", "question__poll__slug"]
    list_select_related = ["question__poll"]
    list_per_page = 50
    exclude = ["metrics"]
    readonly_fields = ["metrics_tables"]

    @admin.display(description="question", ordering="question__code")
    def question_code(self, obj: ValidationRun) -> str:
        return f"{obj.question.poll.slug}: {obj.question.code}"

    @admin.display(description="metrics")
    def metrics_tables(self, obj: ValidationRun):
        if not obj.metrics:
            return "No metrics yet."
        # Every block folded: a hold-out's by-dimension tables run to hundreds of rows.
        return format_html(
            "<details><summary>{} metric blocks (open to read)</summary>{}</details>",
            len(obj.metrics),
            json_tables(obj.metrics),
        )

    @admin.display(description="poll-cell MAE (pts)")
    def model_mae(self, obj: ValidationRun) -> str:
        return _overall_mae(obj, "model")

    @admin.display(description="poll model MAE (pts)")
    def poll_model_mae(self, obj: ValidationRun) -> str:
        return _overall_mae(obj, "poll_model")

    @admin.display(description="national marginal MAE (pts)")
    def marginal_mae(self, obj: ValidationRun) -> str:
        return _overall_mae(obj, "national_marginal")


@admin.register(ValidationTarget)
class ValidationTargetAdmin(admin.ModelAdmin):
    list_display = ["id", "question", "respondents", "active", "created_at", "updated_at"]
    list_filter = ["active", "question__poll"]
    list_select_related = ["question"]
