from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from environment.api.serializers import (
    AreaDetailSerializer,
    AreaFilterSerializer,
    AreaListSerializer,
    EnvironmentalContextSerializer,
)
from environment.models import Area
from environment.selectors import area_list, area_with_marginals, environmental_context_rendered


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


def _render_context(context: dict) -> bytes:
    return JSONRenderer().render(EnvironmentalContextSerializer(context).data)


class EnvironmentalContextView(APIView):
    """The environmental context a persona in this area sees, every figure with its source."""

    # The body is the serializer's output rendered once and cached until the reference data
    # changes: a request costs its authentication, throttle and one cache read.
    @extend_schema(responses=EnvironmentalContextSerializer)
    def get(self, request: Request, area_id: str) -> HttpResponse:
        try:
            body = environmental_context_rendered(area_id=area_id, render=_render_context)
        except Area.DoesNotExist as exc:
            raise NotFound(
                f"No area '{area_id}'. List areas at /api/v1/areas/ (ids look like "
                "dallas_tx_city, wayne_mi_county, texas_state)."
            ) from exc
        return HttpResponse(body, content_type="application/json")
