"""Server-rendered population page: what a population is and how closely its personas match the
census targets they were drawn to."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from environment.categories import DIMENSIONS
from personas.joint import MAX_AGE, MIN_AGE
from personas.selectors import population_detail
from studies.charts.labels import dimension_label
from studies.charts.pages import composition_charts


def constraint_lines(constraints: dict) -> list[tuple[str, str]]:
    """Who may be in the population, in words: ("Age", "18 to 29"), ("Education", "Bachelor's
    degree, Graduate or professional degree")."""
    lines = []
    low, high = constraints.get("age_min"), constraints.get("age_max")
    if low is not None or high is not None:
        lines.append(
            ("Age", f"{MIN_AGE if low is None else low} to {MAX_AGE if high is None else high}")
        )
    for dimension, allowed in constraints.items():
        if dimension in ("age_min", "age_max"):
            continue
        labels = DIMENSIONS.get(dimension, {})
        values = allowed if isinstance(allowed, list) else [allowed]
        lines.append(
            (dimension_label(dimension), ", ".join(labels.get(str(v), str(v)) for v in values))
        )
    return lines


@login_required
def population_page(request, population_id: int):
    """Size, areas, constraints, seed, and the composition against the census targets per
    dimension (chart and table); another user's population is a 404."""
    population = get_object_or_404(population_detail(user=request.user), id=population_id)
    return population_page_render(request, population)


def population_page_render(request, population, *, error: str = "", status: int = 200):
    """The population page; with the runs the study form holds for it (the user's own; staff
    all): waiting for the build, started (a link to the run) or failed (why), and `error` when
    starting or cancelling one was refused."""
    from studies.forms import BACKEND_CHOICES
    from studies.selectors import held_run_list

    report = population.validation_report or {}
    backends = dict(BACKEND_CHOICES)
    held_runs = [
        (held, backends.get(held.backend, held.backend))
        for held in held_run_list(user=request.user).filter(population=population)
    ]
    return render(
        request,
        "pages/population.html",
        {
            "population": population,
            "areas": list(population.areas.all()),
            "report": report,
            "overall": report.get("overall") or {},
            "composition": composition_charts(report),
            "constraints": constraint_lines(population.constraints or {}),
            "held_runs": held_runs,
            "held_error": error,
        },
        status=status,
    )
