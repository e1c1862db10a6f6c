from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import TextField
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import AuditEvent
from accounts.services import audit_record
from config.errors import ConflictError, DomainError
from config.process_cache import ProcessCache
from config.tabular import (
    FileNegotiationMixin,
    requested_format,
    table_response,
    wants_anonymized,
)
from config.throttles import daily_quota_check
from personas.api.serializers import POPULATION_NOT_READY
from personas.selectors import population_list
from studies.api.audit import audit_run_start
from studies.api.serializers import (
    RunCreateSerializer,
    RunEstimateInputSerializer,
    RunEstimateSerializer,
    RunPersonaSerializer,
    RunPersonaSummarySerializer,
    RunResultsSerializer,
    RunSerializer,
    StudyCreateSerializer,
    StudySerializer,
)
from studies.exports import answer_table, comparison_table, result_table, run_export_zip
from studies.models import Run, RunPersona
from studies.progress import ChannelsProgressReporter
from studies.selectors import (
    run_list,
    run_persona_list,
    run_results_state,
    run_results_version_sql,
    study_list,
)
from studies.services import (
    ConditionSpec,
    ItemSpec,
    OptionSpec,
    run_cancel,
    run_estimate,
    run_start,
    study_create,
)

logger = logging.getLogger(__name__)


class StudyListCreateView(generics.ListAPIView):
    serializer_class = StudySerializer
    starts_work = True

    def get_queryset(self):
        return study_list(user=self.request.user)

    @extend_schema(request=StudyCreateSerializer, responses={201: StudySerializer})
    def post(self, request):
        data = StudyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        study = study_create(
            title=v["title"],
            description=v["description"],
            kind=v["kind"],
            universe=v["universe"],
            allow_foreign_polls=v["allow_foreign_polls"],
            items=[
                ItemSpec(
                    code=i["code"],
                    type=i["type"],
                    text=i["text"],
                    variants=i["variants"],
                    poll_question_id=i.get("poll_question"),
                    options=[
                        OptionSpec(o["code"], o["label"], o["value"], o["poll_option"])
                        for o in i["options"]
                    ],
                    min_value=i["min_value"],
                    max_value=i["max_value"],
                    unit=i["unit"],
                    max_choices=i["max_choices"],
                )
                for i in v["items"]
            ],
            conditions=[ConditionSpec(**c) for c in v["conditions"]],
            assignment=v["assignment"],
            balance_on=v["balance_on"],
            inclusion=v["inclusion"],
            exclusion=v["exclusion"],
            quotas=v["quotas"],
            depth=v["depth"],
            behavioral_measures=v["behavioral_measures"],
            think_aloud=v["think_aloud"],
            time_on_task=v["time_on_task"],
            prompt_templates=v["prompt_templates"],
            created_by=request.user,
        )
        audit_record(
            actor=request.user, action=AuditEvent.Action.CREATE, obj=study, request=request
        )
        return Response(
            StudySerializer(study_list(user=request.user).get(pk=study.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class StudyDetailView(generics.RetrieveAPIView):
    serializer_class = StudySerializer

    def get_queryset(self):
        return study_list(user=self.request.user)


def visible_lookup(queryset, pk: int, field: str):
    """An object named in a request body, among those the caller may see: another user's object
    is reported as missing, exactly like one that does not exist."""
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise DomainError(
            f"{queryset.model.__name__} {pk} does not exist.",
            code=f"unknown_{field}",
            fields={field: ["not found"]},
        )
    return obj


class RunListCreateView(generics.ListAPIView):
    serializer_class = RunSerializer
    starts_work = True

    def get_queryset(self):
        return run_list(user=self.request.user)

    @extend_schema(
        request=RunCreateSerializer, responses={201: RunSerializer, 409: POPULATION_NOT_READY}
    )
    def post(self, request):
        data = RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        daily_quota_check(user=request.user, runs=1)
        try:
            run = run_start(
                study=visible_lookup(study_list(user=request.user), v["study"], "study"),
                population=visible_lookup(
                    population_list(user=request.user), v["population"], "population"
                ),
                backend=v["backend"],
                backend_config=v["backend_config"],
                budget=v.get("budget"),
                seed=v.get("seed"),
                chunk_size=v.get("chunk_size"),
                created_by=request.user,
            )
        except ConflictError as exc:
            if exc.code == "population_not_ready":  # the way to not wait: say it
                exc.message += (
                    " Or hold the run until it is: POST the same body to /api/v1/held-runs/."
                )
            raise
        audit_run_start(request=request, run=run)
        run.refresh_from_db()
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailView(generics.RetrieveAPIView):
    serializer_class = RunSerializer

    def get_queryset(self):
        return run_list(user=self.request.user)


class RunCancelView(APIView):
    @extend_schema(request=None, responses={200: RunSerializer})
    def post(self, request, pk: int):
        run = get_object_or_404(run_list(user=request.user), pk=pk)
        run = run_cancel(run=run, reporter=ChannelsProgressReporter(run.id))
        audit_record(actor=request.user, action=AuditEvent.Action.CANCEL, obj=run, request=request)
        return Response(RunSerializer(run).data)


def _results_not_ready(run_id: int, run_status: str) -> ConflictError:
    return ConflictError(
        f"Run {run_id} is {run_status} and has no results yet; poll /api/v1/runs/{run_id}/ "
        "or watch its WebSocket until it completes.",
        code="results_not_ready",
    )


# Results JSON this web process served lately, under the same keys as in the shared cache (the run
# and the version of its stored results), so a repeated request reads no body from Redis. Whether
# the caller may see the run, and which version is current, is read from the database on every
# request before either cache is consulted.
_served_results = ProcessCache(max_bytes=settings.RUN_RESULTS_PROCESS_CACHE_BYTES)


def _results_json(*, user, pk: int) -> HttpResponse:
    """A run's results as JSON bytes, rendered once per version of the stored results and cached
    under the run id and that version (read by the database, so a request neither loads nor
    parses the results): any change to a run's results changes the key. The run is looked up
    among those `user` may see on every request; another user's run is a 404 as before."""
    state = run_results_state(user=user, run_id=pk)
    if state is None:
        raise Http404
    if not state.ready:
        raise _results_not_ready(pk, state.status)
    key = f"studies:run-results:{pk}:{state.version}"
    body = _served_results.get(key)
    if body is not None:
        return HttpResponse(body, content_type="application/json")
    try:
        body = cache.get(key)
    except (redis.RedisError, OSError) as exc:
        logger.warning("Results of run %s not cached, the cache is unreachable: %s", pk, exc)
        body = None
    if body is None:
        # The results and their version from one row, so the bytes cached match their key.
        results, version = (
            Run.objects.filter(pk=pk)
            .values_list("results", RawSQL(run_results_version_sql(), (), TextField()))
            .get()
        )
        if results is None:
            raise _results_not_ready(pk, state.status)
        body = JSONRenderer().render(results)
        key = f"studies:run-results:{pk}:{version}"
        try:
            cache.set(key, body, settings.RUN_RESULTS_CACHE_SECONDS)
        except (redis.RedisError, OSError) as exc:
            logger.warning("Results of run %s not cached: %s", pk, exc)
    _served_results.set(key, body, seconds=settings.RUN_RESULTS_CACHE_SECONDS)
    return HttpResponse(body, content_type="application/json")


class RunResultsView(FileNegotiationMixin, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="json (default), or csv: the result tables as one long table",
            ),
            OpenApiParameter(
                "table",
                str,
                enum=["summaries", "comparisons"],
                description="With format=csv: the summaries (default) or the tests between "
                "conditions and across groups",
            ),
        ],
        responses={200: RunResultsSerializer, (200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request, pk: int):
        """The run's results; as CSV (`?format=csv` or Accept: text/csv), one row per item ×
        group × option × statistic (value and interval), or with `table=comparisons` one row per
        test (condition against control, or across a dimension's groups)."""
        file_format = requested_format(
            request.query_params,
            request.headers.get("Accept", ""),
            allowed=("json", "csv"),
            default="json",
        )
        if file_format == "json":
            return _results_json(user=request.user, pk=pk)
        run = get_object_or_404(run_list(user=request.user), pk=pk)
        if run.results is None:
            raise _results_not_ready(run.id, run.status)
        which = request.query_params.get("table", "summaries")
        tables = {"summaries": result_table, "comparisons": comparison_table}
        if which not in tables:
            raise DomainError(
                f"table must be one of {', '.join(tables)}; got '{which}'.",
                code="unknown_table",
                fields={"table": ["summaries or comparisons"]},
            )
        _audit_export(request, run, file=f"results_{which}.csv", format="csv")
        return table_response(tables[which](run), "csv", filename=f"run_{run.id}_{which}")


class RunEstimateView(APIView):
    """What a run would cost before it starts (a backend that makes no paid calls costs nothing)."""

    @extend_schema(
        request=RunEstimateInputSerializer,
        responses={200: RunEstimateSerializer, 409: POPULATION_NOT_READY},
    )
    def post(self, request):
        data = RunEstimateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        estimate = run_estimate(
            study=visible_lookup(study_list(user=request.user), v["study"], "study"),
            population=visible_lookup(
                population_list(user=request.user), v["population"], "population"
            ),
            backend=v["backend"],
            backend_config=v["backend_config"],
        )
        return Response(
            {"backend": v["backend"], "costs_money": estimate is not None, "estimate": estimate}
        )


@extend_schema(
    parameters=[
        OpenApiParameter(
            "status", str, enum=[s.value for s in RunPersona.Status], description="ok or failed"
        )
    ]
)
class RunPersonaListView(generics.ListAPIView):
    """Every persona's passage through a run: status, failure, usage and cost."""

    serializer_class = RunPersonaSummarySerializer

    def get_queryset(self):
        run = get_object_or_404(run_list(user=self.request.user), pk=self.kwargs["pk"])
        status_ = self.request.query_params.get("status") or None
        if status_ and status_ not in RunPersona.Status.values:
            raise DomainError(
                f"status must be one of {', '.join(RunPersona.Status.values)}; got '{status_}'.",
                fields={"status": ["unknown status"]},
            )
        return run_persona_list(run_id=run.id, status=status_)


class RunPersonaDetailView(generics.RetrieveAPIView):
    """One persona's artefacts: profile, context, consistency, experience and response."""

    serializer_class = RunPersonaSerializer

    def get_object(self):
        run = get_object_or_404(run_list(user=self.request.user), pk=self.kwargs["pk"])
        return get_object_or_404(
            run_persona_list(run_id=run.id), persona_id=self.kwargs["persona_id"]
        )


def _audit_export(request, run, **detail) -> None:
    audit_record(
        actor=request.user, action=AuditEvent.Action.EXPORT, obj=run, request=request, detail=detail
    )


def _zip_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class RunPersonaExportView(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, pk: int, persona_id: int):
        """profile.json, context.md, experience.md and response.json of one persona, zipped."""
        run = get_object_or_404(run_list(user=request.user), pk=pk)
        record = get_object_or_404(run_persona_list(run_id=run.id), persona_id=persona_id)
        _audit_export(request, run, file="persona zip", persona=persona_id)
        folder = f"run_{pk}"
        return _zip_response(
            run_export_zip([record], folder=folder), f"run_{pk}_persona_{persona_id}.zip"
        )


class RunExportView(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, pk: int):
        """Every persona's four files, one folder per persona, zipped."""
        run = get_object_or_404(run_list(user=request.user), pk=pk)
        _audit_export(request, run, file="zip")
        records = run_persona_list(run_id=run.id).iterator(chunk_size=500)
        return _zip_response(run_export_zip(records, folder=f"run_{run.id}"), f"run_{run.id}.zip")


EXPORT_PARAMETERS = [
    OpenApiParameter(
        "format", str, enum=["csv", "parquet"], description="csv (default) or parquet; or Accept"
    ),
    OpenApiParameter(
        "anonymized", bool, description="Pseudonyms, 5-year age buckets, no names or record ids"
    ),
]
TABLE_RESPONSES = {
    (200, "text/csv"): OpenApiTypes.STR,
    (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
}


class RunAnswersExportView(FileNegotiationMixin, APIView):
    @extend_schema(parameters=EXPORT_PARAMETERS, responses=TABLE_RESPONSES)
    def get(self, request, pk: int):
        """The run's answer table, one row per persona × item (simulated personas): persona,
        area, demographics and profile, condition, item, answer, the answer's probability,
        number, weight and reasoning; as CSV or Parquet (`?format=` or Accept), streamed."""
        run = get_object_or_404(run_list(user=request.user), pk=pk)
        file_format = requested_format(
            request.query_params,
            request.headers.get("Accept", ""),
            allowed=("csv", "parquet"),
            default="csv",
        )
        anonymized = wants_anonymized(request.query_params)
        _audit_export(
            request, run, file=f"answers.{file_format}", format=file_format, anonymized=anonymized
        )
        table = answer_table(run, anonymized=anonymized, salt=settings.SECRET_KEY)
        return table_response(table, file_format, filename=f"run_{run.id}_answers_simulated")
