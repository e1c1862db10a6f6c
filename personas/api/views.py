from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from personas.api.serializers import PopulationCreateSerializer, PopulationSerializer
from personas.selectors import population_composition, population_detail
from personas.services import AreaWeight, population_create


class PopulationCreateView(APIView):
    @extend_schema(request=PopulationCreateSerializer, responses={201: PopulationSerializer})
    def post(self, request):
        data = PopulationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        population = population_create(
            size=v["size"],
            areas=[AreaWeight(a["area"], a.get("weight")) for a in v["areas"]],
            seed=v.get("seed"),
            name=v.get("name", ""),
            constraints=v.get("constraints"),
            created_by=request.user,
        )
        population = population_detail().get(pk=population.pk)
        context = {"composition": population_composition(population=population)}
        return Response(
            PopulationSerializer(population, context=context).data, status=status.HTTP_201_CREATED
        )


class PopulationDetailView(APIView):
    @extend_schema(responses=PopulationSerializer)
    def get(self, request, pk: int):
        population = get_object_or_404(population_detail(), pk=pk)
        context = {"composition": population_composition(population=population)}
        return Response(PopulationSerializer(population, context=context).data)
