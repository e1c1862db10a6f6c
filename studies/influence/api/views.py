"""POST /api/v1/multi-agent/simulate and GET /api/v1/multi-agent/simulations/{id}/."""

from __future__ import annotations

import secrets

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Pagination
from config.errors import DomainError
from config.throttles import daily_quota_check
from environment.models import Area
from polls.models import Question
from studies.api.audit import audit_compound_start
from studies.influence.api.serializers import (
    SimulateSerializer,
    SimulationSerializer,
    SimulationStartedSerializer,
)
from studies.influence.selectors import (
    influence_persona_populations,
    influence_population_visible,
    influence_simulation_list,
)
from studies.influence.services import influence_simulation_start
from studies.influence.simulate import (
    DEFAULT_DELIBERATION_ROUNDS,
    DEFAULT_NEIGHBOURS_SHOWN,
    InfluenceParams,
)
from studies.models import InfluenceSimulation


def _url(simulation_id: int) -> str:
    return f"/api/v1/multi-agent/simulations/{simulation_id}/"


class SimulateView(APIView):
    """Start a multi-agent simulation: every persona of the group answers the poll question
    alone (influence off), then ties in a seeded homophily network move it (influence on): on
    the poll model, Friedkin–Johnsen rounds over its answer probabilities; on the LLM backend,
    deliberation rounds in which each persona reads its ties' answers and reasoning and answers
    again. Returns 202 at once; the result is at the returned url when the run completes, and
    the run's WebSocket reports each round."""

    starts_work = True

    @extend_schema(request=SimulateSerializer, responses={202: SimulationStartedSerializer})
    def post(self, request):
        data = SimulateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        daily_quota_check(user=request.user, runs=1)
        question = Question.objects.filter(pk=v["poll_question"]).first()
        if question is None:
            raise DomainError(
                f"Poll question {v['poll_question']} does not exist; see /api/v1/polls/.",
                code="unknown_poll_question",
                fields={"poll_question": ["not found"]},
            )
        area = None
        if v.get("environment_area_id"):
            area = Area.objects.filter(pk=v["environment_area_id"]).first()
            if area is None:
                raise DomainError(
                    f"Unknown area '{v['environment_area_id']}'; see /api/v1/areas/.",
                    code="unknown_area",
                    fields={"environment_area_id": ["not found"]},
                )
        population_id = v.get("population")
        if "personas" in v:
            populations = influence_persona_populations(
                persona_ids=v["personas"], user=request.user
            )
            if len(populations) > 1:
                raise DomainError(
                    "The personas come from several populations; a group is drawn from one.",
                    code="mixed_populations",
                    fields={"personas": ["from more than one population"]},
                )
            if not populations:
                raise NotFound("None of these personas exists.")
            if population_id is not None and population_id != populations[0]:
                raise DomainError(
                    f"The personas are not of population {population_id}.",
                    code="unknown_personas",
                    fields={"personas": ["not in the population"]},
                )
            population_id = populations[0]
        population = (
            influence_population_visible(user=request.user).filter(pk=population_id).first()
        )
        if population is None:
            raise NotFound(f"Population {population_id} does not exist.")
        params = InfluenceParams(
            enable_peer_influence=v["enable_peer_influence"],
            group_size=v.get("group_size"),
            mean_degree=v["mean_degree"],
            homophily=v.get("homophily") or InfluenceParams().homophily,
            susceptibility_scale=v["susceptibility_scale"],
            max_rounds=v["max_rounds"],
            tolerance=v["tolerance"],
            seed=v["seed"] if "seed" in v else secrets.randbits(63),
            **_deliberation_params(v),
        )
        simulation = influence_simulation_start(
            scenario_description=v["scenario_description"],
            question=question,
            population=population,
            area=area,
            persona_ids=v.get("personas"),
            params=params,
            backend=v["backend"],
            backend_config=v.get("backend_config"),
            budget=v.get("budget"),
            created_by=request.user,
        )
        audit_compound_start(
            request=request, record=simulation, run=simulation.run, population_created=False
        )
        return Response(
            {
                "simulation_id": simulation.id,
                "status": simulation.run.status,
                "run": simulation.run_id,
                "url": _url(simulation.id),
            },
            status=status.HTTP_202_ACCEPTED,
        )


def _deliberation_params(v: dict) -> dict:
    if v["backend"] != "llm" or not v["enable_peer_influence"]:
        return {}
    return {
        "deliberation_rounds": v.get("deliberation_rounds", DEFAULT_DELIBERATION_ROUNDS),
        "neighbours_shown": v.get("neighbours_shown", DEFAULT_NEIGHBOURS_SHOWN),
    }


class SimulationDetailView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="individual responses per page (≤ 200)"),
            OpenApiParameter("offset", int, description="first individual response"),
        ],
        responses={200: SimulationSerializer},
    )
    def get(self, request, pk: int):
        simulation = get_object_or_404(influence_simulation_list(user=request.user), pk=pk)
        return Response(_detail(simulation, request))


def _detail(simulation: InfluenceSimulation, request) -> dict:
    run = simulation.run
    results = simulation.results or {}
    responses = None
    if simulation.responses is not None:
        paginator = Pagination()
        limit = paginator.get_limit(request) or paginator.max_limit
        offset = paginator.get_offset(request)
        responses = {
            "count": len(simulation.responses),
            "limit": limit,
            "offset": offset,
            "results": simulation.responses[offset : offset + limit],
        }
    return {
        "simulation_id": simulation.id,
        "status": run.status,
        "run": run.id,
        "backend": run.backend,
        "cost_estimate": run.cost_estimate,
        "cost_spent": format(run.cost_spent, "f"),
        "scenario_description": simulation.scenario_description,
        "enable_peer_influence": simulation.enable_peer_influence,
        "personas_total": run.personas_total,
        "personas_done": run.personas_done,
        "error_message": run.error_message,
        "parameters": simulation.parameters,
        **{
            key: results.get(key)
            for key in (
                "group_dynamics",
                "peer_influence_effects",
                "comparison",
                "breakdowns",
                "network",
                "dynamics",
                "assumptions",
            )
        },
        "individual_responses": responses,
    }
