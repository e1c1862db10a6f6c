from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics

from environment.api.serializers import AreaDetailSerializer, AreaListSerializer
from environment.selectors import area_list, area_with_marginals


@extend_schema(
    parameters=[
        OpenApiParameter("search", str, description="Part of the area's name"),
        OpenApiParameter("state", str, description="USPS state code, e.g. TX"),
        OpenApiParameter("kind", str, enum=["state", "city"]),
    ]
)
class AreaListView(generics.ListAPIView):
    serializer_class = AreaListSerializer

    def get_queryset(self):
        params = self.request.query_params
        return area_list(
            search=params.get("search", ""),
            state=params.get("state", ""),
            kind=params.get("kind", ""),
        )


class AreaDetailView(generics.RetrieveAPIView):
    serializer_class = AreaDetailSerializer
    queryset = area_with_marginals()
