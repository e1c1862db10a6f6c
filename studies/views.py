"""Server-rendered pages: start a study, watch a run live, read its results."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from accounts.models import AuditEvent
from accounts.services import audit_record
from config.errors import DomainError
from config.throttles import daily_quota_check
from personas.services import AreaWeight, population_create
from studies.charts.labels import DIMENSION_LABELS
from studies.charts.pages import (
    area_geography,
    item_charts,
    market_charts,
    policy_charts,
    result_area_ids,
    run_comparison,
)
from studies.forms import StudyStartForm
from studies.selectors import run_list, run_snapshot
from studies.services import ItemSpec, run_estimate, run_start, study_create


class _Rollback(Exception):
    """Leaves the estimate's study and population behind in no table."""


@login_required
def home(request):
    form = StudyStartForm(request.POST or None)
    estimate = None
    if request.method == "POST" and form.is_valid():
        v = form.cleaned_data
        estimating = request.POST.get("action") == "estimate"
        try:
            # All or nothing: a population or run that fails leaves no study or population behind;
            # an estimate builds both to price the run, then rolls them back.
            with transaction.atomic():
                if not estimating:
                    daily_quota_check(user=request.user, personas=v["size"], runs=1)
                study = study_create(
                    title=v["title"],
                    items=[
                        ItemSpec(
                            code=v["question"].code,
                            text=v["question"].text,
                            poll_question_id=v["question"].id,
                        )
                    ],
                    created_by=request.user,
                )
                population = population_create(
                    size=v["size"],
                    areas=[AreaWeight(a.id) for a in v["areas"]],
                    created_by=request.user,
                    name=f"{v['title']} population",
                )
                if estimating:
                    estimate = run_estimate(
                        study=study,
                        population=population,
                        backend=v["backend"],
                        backend_config=form.backend_config(),
                    ) or {"free": True}
                    raise _Rollback
                run = run_start(
                    study=study,
                    population=population,
                    backend=v["backend"],
                    backend_config=form.backend_config(),
                    budget=v.get("budget"),
                    created_by=request.user,
                )
                audit_record(
                    actor=request.user,
                    action=AuditEvent.Action.START,
                    obj=run,
                    via="page",
                    request=request,
                    detail={"backend": run.backend},
                )
        except _Rollback:
            pass
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("run-page", run_id=run.id)
    return render(
        request,
        "pages/home.html",
        {"form": form, "runs": run_list(user=request.user)[:20], "estimate": estimate},
    )


def _result_charts(results: dict | None) -> dict:
    """The charts of a run's results (empty before it has any): each item's, and the policy and
    market headlines'."""
    if not results:
        return {"by_item": {}, "policy": {}, "market": {}}
    geography = area_geography(result_area_ids(results))
    return {
        "by_item": item_charts(results, geography),
        "policy": policy_charts(results["policy"], geography) if results.get("policy") else {},
        "market": market_charts(results["market"], geography) if results.get("market") else {},
    }


@login_required
def run_page(request, run_id: int):
    run = get_object_or_404(
        run_list(user=request.user).select_related("study", "population"), id=run_id
    )
    return render(
        request,
        "pages/run.html",
        {
            "run": run,
            "snapshot": run_snapshot(run_id=run.id),
            "results": run.results,
            "charts": _result_charts(run.results),
            "dimension_labels": DIMENSION_LABELS,
        },
    )


@login_required
def run_charts(request, run_id: int):
    """The run's item charts as an HTML fragment, for the page to place beside the tables it draws
    when a live run's results arrive (404 until there are results)."""
    run = get_object_or_404(run_list(user=request.user), id=run_id)
    if run.results is None:
        raise Http404(f"Run {run.id} is {run.status} and has no results yet.")
    return render(request, "pages/_result_charts.html", {"charts": _result_charts(run.results)})


@login_required
def run_compare(request):
    """Two of the user's runs side by side: ?a=<run id>&b=<run id>."""
    ids = {}
    for key in ("a", "b"):
        raw = request.GET.get(key, "")
        if not raw.isdigit():
            return render(
                request,
                "pages/run_compare.html",
                {
                    "error": "Give two run ids to compare: /runs/compare/?a=<run id>&b=<run id>"
                    f" ({key} was {'missing' if not raw else repr(raw)})."
                },
                status=400,
            )
        ids[key] = int(raw)
    runs = run_list(user=request.user).select_related("study", "population")
    a = get_object_or_404(runs, id=ids["a"])
    b = get_object_or_404(runs, id=ids["b"])
    return render(
        request,
        "pages/run_compare.html",
        {"a": a, "b": b, "comparison": run_comparison(a.results, b.results)},
    )
