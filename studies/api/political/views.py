"""The political endpoints: start a policy analysis (population, study and run in one go) and read
it in the seed's shape."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from config.throttles import daily_quota_check
from studies.api.audit import audit_compound_start
from studies.api.political.report import analysis_report, scenario_id
from studies.api.political.serializers import (
    PolicyAnalysisReportSerializer,
    PolicyAnalysisRequestSerializer,
    PolicyAnalysisStartedSerializer,
)
from studies.selectors import policy_analysis_list
from studies.services.political import PolicyRequest, policy_analysis_start


class _PolicyAnalyzeView(APIView):
    environmental = False
    starts_work = True

    def post(self, request):
        data = PolicyAnalysisRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        v["demographic_constraints"] = dict(v.get("demographic_constraints") or {})
        daily_quota_check(user=request.user, personas=v.get("population_size") or 0, runs=1)
        analysis = policy_analysis_start(
            request=PolicyRequest(**v),
            raw=request.data if isinstance(request.data, dict) else {},
            environmental=self.environmental,
            created_by=request.user,
        )
        run = analysis.run
        audit_compound_start(request=request, record=analysis, run=run, population_created=True)
        return Response(
            {
                "analysis_id": analysis.pk,
                "scenario_id": scenario_id(analysis),
                "analysis_url": f"/api/v1/political/analyses/{analysis.pk}/",
                "run_id": run.pk,
                "run_page_url": f"/runs/{run.pk}/",
                "websocket_url": f"/ws/runs/{run.pk}/",
                "status": run.status,
                "proxy": analysis.proxy,
            },
            status=status.HTTP_202_ACCEPTED,
        )


class PolicyAnalyzeView(_PolicyAnalyzeView):
    @extend_schema(
        request=PolicyAnalysisRequestSerializer,
        responses={202: PolicyAnalysisStartedSerializer},
    )
    def post(self, request):
        """Start a policy-support analysis: support, opposition, demographic breakdowns,
        significance and swing groups; with messages, their lifts over control."""
        return super().post(request)


class PolicyAnalyzeEnvironmentalView(_PolicyAnalyzeView):
    environmental = True

    @extend_schema(
        request=PolicyAnalysisRequestSerializer,
        responses={202: PolicyAnalysisStartedSerializer},
    )
    def post(self, request):
        """As /political/analyze, plus per-area results, the areas' social pressures and how
        support goes with them (associations, not causal effects)."""
        return super().post(request)


class PolicyAnalysisDetailView(APIView):
    @extend_schema(responses={200: PolicyAnalysisReportSerializer})
    def get(self, request, pk: int):
        """The analysis: its run's status and progress, and once the run has finished, the
        figures in the seed's shape."""
        analysis = get_object_or_404(policy_analysis_list(user=request.user), pk=pk)
        return Response(analysis_report(analysis))
