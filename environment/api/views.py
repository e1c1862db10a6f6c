from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from environment.api.serializers import (
    AreaDetailSerializer,
    AreaFilterSerializer,
    AreaListSerializer,
    EnvironmentalContextSerializer,
)
from environment.models import Area
from environment.selectors import area_list, area_with_marginals, environmental_context


@extend_schema(parameters=[AreaFilterSerializer])
class AreaListView(generics.ListAPIView):
    serializer_class = AreaListSerializer

    def get_queryset(self):
        filters = AreaFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        return area_list(
            search=params.get("search", ""),
            state=params.get("state", ""),
            kind=params.get("kind", ""),
            usable=params.get("usable"),
        )


class AreaDetailView(generics.RetrieveAPIView):
    serializer_class = AreaDetailSerializer
    queryset = area_with_marginals()


class EnvironmentalContextView(APIView):
    """The environmental context a persona in this area sees, every figure with its source."""

    @extend_schema(responses=EnvironmentalContextSerializer)
    def get(self, request: Request, area_id: str) -> Response:
        try:
            context = environmental_context(area_id=area_id)
        except Area.DoesNotExist as exc:
            raise NotFound(
                f"No area '{area_id}'. List areas at /api/v1/areas/ (ids look like "
                "dallas_tx_city, wayne_mi_county, texas_state)."
            ) from exc
        return Response(EnvironmentalContextSerializer(context).data)
