"""The market endpoint: start a product-reception analysis over price points and read it back."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from config.ownership import visible_to
from config.throttles import daily_quota_check
from studies.api.audit import audit_compound_start
from studies.api.market.report import market_report, scenario_id
from studies.api.market.serializers import (
    MarketAnalysisReportSerializer,
    MarketAnalysisRequestSerializer,
    MarketAnalysisStartedSerializer,
)
from studies.models import MarketAnalysis
from studies.services.market import MarketRequest, market_analysis_start


class MarketAnalyzeEnvironmentalView(APIView):
    starts_work = True

    @extend_schema(
        request=MarketAnalysisRequestSerializer, responses={202: MarketAnalysisStartedSerializer}
    )
    def post(self, request):
        """Start a product-reception analysis: purchase intent at each price, revenue, the
        optimal price and the target market's size, per area; with `features`, their importance;
        market segments and each area's social pressures (LLM backend)."""
        data = MarketAnalysisRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        v["target_market"] = dict(v.get("target_market") or {})
        daily_quota_check(user=request.user, personas=v.get("population_size") or 0, runs=1)
        analysis = market_analysis_start(
            request=MarketRequest(**v),
            raw=request.data if isinstance(request.data, dict) else {},
            created_by=request.user,
        )
        run = analysis.run
        audit_compound_start(request=request, record=analysis, run=run, population_created=True)
        return Response(
            {
                "analysis_id": analysis.pk,
                "scenario_id": scenario_id(analysis),
                "analysis_url": f"/api/v1/market/analyses/{analysis.pk}/",
                "run_id": run.pk,
                "run_page_url": f"/runs/{run.pk}/",
                "websocket_url": f"/ws/runs/{run.pk}/",
                "status": run.status,
            },
            status=status.HTTP_202_ACCEPTED,
        )


class MarketAnalysisDetailView(APIView):
    @extend_schema(responses={200: MarketAnalysisReportSerializer})
    def get(self, request, pk: int):
        """The analysis: its run's status and progress, then the figures in the seed's shape."""
        queryset = visible_to(MarketAnalysis.objects.select_related("run"), request.user)
        return Response(market_report(get_object_or_404(queryset, pk=pk)))
