"""Server-rendered pages: start a study, list studies, populations and runs, read a study, watch a
run live, read its results."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import AuditEvent
from accounts.services import audit_record
from config.errors import DomainError
from config.throttles import daily_quota_check
from personas.selectors import population_detail, population_list_summary
from personas.services import AreaWeight, population_create, population_usable_check
from personas.tasks import population_build_dispatch
from personas.views import population_page_render
from studies.charts.labels import DIMENSION_LABELS
from studies.charts.pages import (
    area_geography,
    item_charts,
    market_charts,
    policy_charts,
    result_area_ids,
    run_comparison,
)
from studies.forms import RunAgainForm, StudyStartForm
from studies.models import Run
from studies.selectors import (
    held_run_list,
    run_list,
    run_list_search,
    run_snapshot,
    study_list,
    study_list_summary,
)
from studies.services import run_estimate, run_start, study_create
from studies.services.held_runs import (
    held_run_cancel,
    held_run_create,
    held_run_retry,
    held_run_start,
)

PAGE_SIZE = 25


class _Rollback(Exception):
    """Leaves the estimate's study and population behind in no table."""


def _audit_start(request: HttpRequest, run: Run) -> None:
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.START,
        obj=run,
        via="page",
        request=request,
        detail={"backend": run.backend},
    )


# --- the study form (/ and /studies/new/) --------------------------------------------------------


@login_required
def study_new(request):
    form = StudyStartForm(request.POST or None, user=request.user)
    estimate = None
    if request.method == "POST" and form.is_valid():
        v = form.cleaned_data
        estimating = request.POST.get("action") == "estimate"
        if v.get("population") is None and v["size"] > settings.POPULATION_INLINE_MAX:
            return _study_new_deferred(request, form, estimating=estimating)
        try:
            # All or nothing: a population or run that fails leaves no study or population behind;
            # an estimate builds both to price the run, then rolls them back.
            with transaction.atomic():
                population = v.get("population")
                if not estimating:
                    daily_quota_check(
                        user=request.user, personas=0 if population else v["size"], runs=1
                    )
                study = study_create(
                    title=v["title"], items=form.item_specs(), created_by=request.user
                )
                if population is None:
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
                _audit_start(request, run)
        except _Rollback:
            pass
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("run-page", run_id=run.id)
    return _study_form_page(request, form, estimate=estimate)


def _study_new_deferred(request: HttpRequest, form: StudyStartForm, *, estimating: bool):
    """A new population above POPULATION_INLINE_MAX is built off the request, as the API builds
    it: the study, the queued population and the run held for it are stored together (the run
    checked first for what can be checked without personas), the build is dispatched once they
    are committed, and the browser goes to the population page, which shows the build's progress
    and the held run's state; the run starts by itself once the population is ready."""
    v = form.cleaned_data
    limit = settings.POPULATION_INLINE_MAX
    if estimating:
        form.add_error(
            "size",
            f"A new population of more than {limit:,} personas is built in the background, so a "
            "run on it cannot be priced before it exists. Start the study (the run starts once "
            f"the population is ready), or estimate with {limit:,} personas or fewer: the "
            "estimate grows in proportion to the personas.",
        )
        return _study_form_page(request, form, status=400)
    try:
        with transaction.atomic():
            daily_quota_check(user=request.user, personas=v["size"], runs=1)
            study = study_create(title=v["title"], items=form.item_specs(), created_by=request.user)
            population = population_create(
                size=v["size"],
                areas=[AreaWeight(a.id) for a in v["areas"]],
                created_by=request.user,
                name=f"{v['title']} population",
                defer=True,
            )
            held_run_create(
                study=study,
                population=population,
                backend=v["backend"],
                backend_config=form.backend_config(),
                budget=v.get("budget"),
                created_by=request.user,
            )
            audit_record(
                actor=request.user,
                action=AuditEvent.Action.CREATE,
                obj=population,
                via="page",
                request=request,
            )
            population_id = population.pk
            transaction.on_commit(lambda: population_build_dispatch(population_id=population_id))
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _study_form_page(request, form, status=400)
    return redirect("population-page", population_id=population.pk)


def _study_form_page(
    request: HttpRequest, form: StudyStartForm, *, estimate: dict | None = None, status: int = 200
):
    return render(
        request,
        "pages/study_form.html",
        {
            "form": form,
            "runs": run_list(user=request.user)[:5],
            "estimate": estimate,
            "has_populations": form.fields["population"].queryset.exists(),
        },
        status=status,
    )


def _held_run(request: HttpRequest, population_id: int, held_run_id: int):
    """The user's held run on the user's population, or 404 (another user's included)."""
    population = get_object_or_404(population_detail(user=request.user), id=population_id)
    held = get_object_or_404(
        held_run_list(user=request.user).filter(population=population), id=held_run_id
    )
    return population, held


@login_required
@require_POST
def population_held_run_start(request, population_id: int, held_run_id: int) -> HttpResponse:
    """Start a held run now, if its population is ready and it has not started by itself (its
    build's process stopped before it could); refused with the population page saying why."""
    population, held = _held_run(request, population_id, held_run_id)
    try:
        population_usable_check(population=population)
    except DomainError as exc:
        return population_page_render(
            request, population, error=exc.message, status=exc.status_code
        )
    held = held_run_start(held_run_id=held.id, actor=request.user) or held
    if held.run_id is not None:
        return redirect("run-page", run_id=held.run_id)
    return redirect("population-page", population_id=population.pk)


@login_required
@require_POST
def population_held_run_cancel(request, population_id: int, held_run_id: int) -> HttpResponse:
    """Drop a run still waiting for the population (the population goes on building)."""
    population, held = _held_run(request, population_id, held_run_id)
    try:
        held_run_cancel(held_run=held, actor=request.user, request=request)
    except DomainError as exc:
        return population_page_render(
            request, population, error=exc.message, status=exc.status_code
        )
    return redirect("population-page", population_id=population.pk)


@login_required
@require_POST
def population_held_run_retry(request, population_id: int, held_run_id: int) -> HttpResponse:
    """Retry a failed held run: started now on a ready population (to its run's page), held
    again on one still being built; refused with the population page saying why (its
    population failed, or the start was refused again)."""
    population, held = _held_run(request, population_id, held_run_id)
    try:
        held = held_run_retry(held_run=held, actor=request.user, via="page", request=request)
    except DomainError as exc:
        return population_page_render(
            request, population, error=exc.message, status=exc.status_code
        )
    if held.run_id is not None:
        return redirect("run-page", run_id=held.run_id)
    return redirect("population-page", population_id=population.pk)


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


# --- list pages: paged, searchable, each user's own (staff: all) --------------------------------


def _paged(request: HttpRequest, queryset) -> dict:
    """The page of `queryset` the request asks for, and the query string its links keep."""
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)
    return {"page": page, "q": request.GET.get("q", "").strip(), "kept": kept.urlencode()}


@login_required
def studies_page(request):
    search = request.GET.get("q", "").strip()
    return render(
        request,
        "pages/studies.html",
        _paged(request, study_list_summary(user=request.user, search=search)),
    )


@login_required
def populations_page(request):
    search = request.GET.get("q", "").strip()
    return render(
        request,
        "pages/populations.html",
        _paged(request, population_list_summary(user=request.user, search=search)),
    )


@login_required
def runs_page(request):
    search = request.GET.get("q", "").strip()
    status = request.GET.get("status", "").strip()
    context = {"statuses": Run.Status.choices, "status": status, "error": ""}
    if status and status not in Run.Status.values:
        context["error"] = (
            f"There is no run status '{status}'; choose one of: {', '.join(Run.Status.values)}."
        )
        context |= _paged(request, Run.objects.none())
        return render(request, "pages/runs.html", context, status=400)
    runs = run_list_search(user=request.user, search=search, status=status)
    return render(request, "pages/runs.html", context | _paged(request, runs))


# --- the study page ----------------------------------------------------------------------------


@login_required
def study_page(request, study_id: int):
    study = get_object_or_404(study_list(user=request.user), id=study_id)
    return render(
        request,
        "pages/study.html",
        {
            "study": study,
            "runs": run_list(user=request.user).filter(study=study),
            "run_again": RunAgainForm(user=request.user),
        },
    )


@login_required
@require_POST
def study_run_again(request, study_id: int) -> HttpResponse:
    """Run the study again on one of the user's populations (offline backends)."""
    study = get_object_or_404(study_list(user=request.user), id=study_id)
    form = RunAgainForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            daily_quota_check(user=request.user, personas=0, runs=1)
            run = run_start(
                study=study,
                population=form.cleaned_data["population"],
                backend=form.cleaned_data["backend"],
                created_by=request.user,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            _audit_start(request, run)
            return redirect("run-page", run_id=run.id)
    return render(
        request,
        "pages/study.html",
        {
            "study": study,
            "runs": run_list(user=request.user).filter(study=study),
            "run_again": form,
        },
        status=400,
    )


# --- the run page ------------------------------------------------------------------------------


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
