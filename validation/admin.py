from django.contrib import admin

from validation.models import ValidationRun


@admin.register(ValidationRun)
class ValidationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "question", "method", "holdout_fraction", "seed", "n_train", "n_test",
                    "model_mae", "marginal_mae", "created_at"]  # fmt: skip
    list_filter = ["method", "question__poll"]
    search_fields = ["question__code", "question__text", "question__poll__slug"]
    list_select_related = ["question"]
    readonly_fields = ["metrics"]

    @admin.display(description="model MAE (pts)")
    def model_mae(self, obj: ValidationRun) -> str:
        return f"{obj.metrics['overall']['methods']['model']['mae_points']:.2f}"

    @admin.display(description="national marginal MAE (pts)")
    def marginal_mae(self, obj: ValidationRun) -> str:
        return f"{obj.metrics['overall']['methods']['national_marginal']['mae_points']:.2f}"
