from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from personas.models import Persona, Population, PopulationArea


class PopulationAreaInline(admin.TabularInline):
    model = PopulationArea
    extra = 0
    raw_id_fields = ["area"]


def _report_table(comparison: dict):
    """One row per dimension and category: target, achieved, deviation in points."""
    rows = []
    for dimension, block in comparison.get("dimensions", {}).items():
        for row in block["categories"]:
            rows.append(
                (
                    dimension,
                    row["category"],
                    f"{row['target'] * 100:.2f}%",
                    f"{row['achieved'] * 100:.2f}%",
                    f"{row['deviation_points']:+.2f}",
                )
            )
        rows.append(
            (
                dimension,
                "max |dev| / TVD",
                "",
                "",
                f"{block['max_abs_deviation_points']:.2f} / "
                f"{block['total_variation_distance']:.4f}",
            )
        )
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        rows,
    )
    return format_html(
        "<table><thead><tr><th>dimension</th><th>category</th><th>target</th>"
        "<th>achieved</th><th>deviation (points)</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


@admin.register(Population)
class PopulationAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "size", "max_deviation_points", "created_at", "created_by"]
    list_filter = ["created_at"]
    list_select_related = ["created_by"]
    list_per_page = 50
    search_fields = ["name", "areas__area__name"]
    inlines = [PopulationAreaInline]
    readonly_fields = [
        "method", "constraints", "validation_summary", "validation_report_json",
        # The build's bookkeeping belongs to the task and the watchdog (personas.build).
        "build_attempt", "progress_at", "build_state",
    ]  # fmt: skip
    exclude = ["validation_report"]

    @admin.display(description="max deviation (points)")
    def max_deviation_points(self, obj: Population) -> str:
        overall = (obj.validation_report or {}).get("overall")
        return "—" if not overall else f"{overall['max_abs_deviation_points']:.2f}"

    @admin.display(description="Validation (target vs achieved)")
    def validation_summary(self, obj: Population):
        report = obj.validation_report or {}
        if not report.get("overall"):
            return "No validation report (generated before reports were kept)."
        overall = report["overall"]
        parts = [
            format_html(
                "<p>{} personas; worst category off by {} points (goal ≤ {}).</p>",
                overall["personas"],
                f"{overall['max_abs_deviation_points']:.2f}",
                report.get("goal_points"),
            ),
            _report_table(overall),
        ]
        for area_id, comparison in report.get("areas", {}).items():
            # Each area's table folded: a population over many areas would run to pages.
            parts.append(
                format_html(
                    "<details><summary>{} — {} personas, seed table: {}</summary>{}</details>",
                    area_id,
                    comparison["personas"],
                    comparison.get("seed_table", ""),
                    _report_table(comparison),
                )
            )
        return format_html_join("", "{}", ((p,) for p in parts))

    @admin.display(description="Validation report (JSON)")
    def validation_report_json(self, obj: Population):
        return format_html(
            "<details><summary>The report as stored</summary><pre>{}</pre></details>",
            json.dumps(obj.validation_report, indent=2),
        )


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
