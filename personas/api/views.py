from __future__ import annotations

import json
from dataclasses import asdict

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import AuditEvent
from accounts.services import audit_record
from config.tabular import (
    FileNegotiationMixin,
    requested_format,
    table_response,
    wants_anonymized,
)
from config.throttles import daily_quota_check
from environment.context import environmental_context
from personas.api.serializers import (
    POPULATION_NOT_READY,
    PersonaAwarenessSerializer,
    PersonaFilterSerializer,
    PersonaSerializer,
    PoolImportSerializer,
    PopulationCreateSerializer,
    PopulationSerializer,
    PopulationSummarySerializer,
)
from personas.awareness import (
    PersonaView,
    generate_llm_prompt_context,
    reference_groups,
    social_pressures,
)
from personas.exports import population_table
from personas.profile.export import anonymize, pool_to_json
from personas.selectors import (
    persona_list,
    persona_rows,
    persona_visible,
    population_composition,
    population_detail,
    population_list,
)
from personas.services import (
    AreaWeight,
    population_create,
    population_import_pool,
    population_usable_check,
)
from personas.tasks import population_build_dispatch


class PopulationCreateView(generics.ListAPIView):
    """The caller's populations (staff see all), newest first; POST creates one."""

    serializer_class = PopulationSummarySerializer
    starts_work = True

    def get_queryset(self):
        return population_list(user=self.request.user)

    @extend_schema(
        request=PopulationCreateSerializer,
        responses={
            201: OpenApiResponse(PopulationSerializer, description="Built in the request: ready"),
            202: OpenApiResponse(
                PopulationSerializer,
                description="Larger than POPULATION_INLINE_MAX: queued and built by a task; "
                "follow the Location header until its status is ready (or failed)",
            ),
        },
    )
    def post(self, request):
        """Create a population. Up to the server's POPULATION_INLINE_MAX personas it is built in
        the request (201); a larger one is built off the request (202, status `queued`)."""
        data = PopulationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        daily_quota_check(user=request.user, personas=v["size"])
        defer = v["size"] > settings.POPULATION_INLINE_MAX
        population = population_create(
            size=v["size"],
            areas=[AreaWeight(a["area"], a.get("weight")) for a in v["areas"]],
            seed=v.get("seed"),
            name=v.get("name", ""),
            constraints=v.get("constraints"),
            include_behavioral_characteristics=v["include_behavioral_characteristics"],
            created_by=request.user,
            defer=defer,
        )
        audit_record(
            actor=request.user, action=AuditEvent.Action.CREATE, obj=population, request=request
        )
        if defer:
            population_id = population.pk
            transaction.on_commit(lambda: population_build_dispatch(population_id=population_id))
        population = population_detail(user=request.user).get(pk=population.pk)
        context = {"composition": population_composition(population=population)}
        body = PopulationSerializer(population, context=context).data
        if not defer:
            return Response(body, status=status.HTTP_201_CREATED)
        location = reverse("population-detail", kwargs={"pk": population.pk})
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class PopulationDetailView(APIView):
    @extend_schema(responses=PopulationSerializer)
    def get(self, request, pk: int):
        population = get_object_or_404(population_detail(user=request.user), pk=pk)
        context = {"composition": population_composition(population=population)}
        return Response(PopulationSerializer(population, context=context).data)


class PersonaListView(generics.ListAPIView):
    """A population's personas, filtered by area, demographic categories and age range."""

    serializer_class = PersonaSerializer

    @extend_schema(
        parameters=[PersonaFilterSerializer],
        responses={200: PersonaSerializer(many=True), 409: POPULATION_NOT_READY},
    )
    def get(self, request, *args, **kwargs):
        """A population's personas, filtered; a population still being built (or failed) is a
        409 saying so, never an empty or partial list."""
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        population = get_object_or_404(
            population_list(user=self.request.user), pk=self.kwargs["pk"]
        )
        population_usable_check(population=population)
        filters = PersonaFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return persona_list(population=population, filters=filters.validated_data)


class PersonaDetailView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "scenario", str, description="Adds the prompt context a model would read"
            ),
            OpenApiParameter("scenario_type", str, description="A study kind, e.g. policy_support"),
        ],
        responses=PersonaAwarenessSerializer,
    )
    def get(self, request, pk: int):
        """A persona with its environmental awareness: pressures and reference groups."""
        persona = get_object_or_404(persona_visible(user=request.user), pk=pk)
        view = PersonaView.from_persona(persona)
        context = environmental_context(area_id=persona.area_id)
        awareness = {
            "pressures": social_pressures(view, context).as_dict(),
            "reference_groups": [asdict(g) for g in reference_groups(view, context)],
        }
        scenario = request.query_params.get("scenario")
        if scenario:
            awareness["prompt_context"] = generate_llm_prompt_context(
                view,
                context,
                scenario=scenario,
                scenario_type=request.query_params.get("scenario_type", "general"),
            )
        return Response(PersonaAwarenessSerializer(persona, context={"awareness": awareness}).data)


class PopulationExportView(FileNegotiationMixin, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv", "parquet"],
                description="personas.json (default), CSV or Parquet; or Accept "
                "(`file_format` is the older name of this parameter)",
            ),
            OpenApiParameter("anonymized", bool, description="5-year age buckets, pseudonyms"),
        ],
        responses={
            409: POPULATION_NOT_READY,
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, pk: int):
        """Every persona of a population as personas.json, or as a table (CSV or Parquet,
        streamed: one row per persona with its area, demographics and every profile field),
        optionally anonymized."""
        population = get_object_or_404(population_list(user=request.user), pk=pk)
        population_usable_check(population=population)
        query = request.query_params
        file_format = requested_format(
            query,
            request.headers.get("Accept", ""),
            allowed=("json", "csv", "parquet"),
            default="json",
            param="format" if "format" in query or "file_format" not in query else "file_format",
        )
        anonymized = wants_anonymized(query)
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.EXPORT,
            obj=population,
            request=request,
            detail={"format": file_format, "anonymized": anonymized},
        )
        filename = f"population-{population.pk}"
        if file_format != "json":
            table = population_table(population, anonymized=anonymized, salt=settings.SECRET_KEY)
            return table_response(table, file_format, filename=filename)
        rows = persona_rows(persona_list(population=population, filters={}))
        if anonymized:
            rows = anonymize(rows, salt=settings.SECRET_KEY)
        response = HttpResponse(pool_to_json(rows), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{filename}-personas.json"'
        return response


class PoolImportView(APIView):
    starts_work = True

    @extend_schema(request=PoolImportSerializer, responses={201: PopulationSerializer})
    def post(self, request):
        """Create a population from a personas.json pool (rows need an area and an exact age)."""
        data = PoolImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        daily_quota_check(user=request.user, personas=len(data.validated_data["pool"]["personas"]))
        population = population_import_pool(
            text=json.dumps(data.validated_data["pool"]),
            name=data.validated_data["name"],
            created_by=request.user,
        )
        audit_record(
            actor=request.user, action=AuditEvent.Action.CREATE, obj=population, request=request
        )
        population = population_detail(user=request.user).get(pk=population.pk)
        context = {"composition": population_composition(population=population)}
        return Response(
            PopulationSerializer(population, context=context).data, status=status.HTTP_201_CREATED
        )
