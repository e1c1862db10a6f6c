"""The poll model's area estimates, computed exactly by poststratifying each area's census joint
table (no personas drawn)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import QuerySerializer
from config.errors import DomainError
from environment.categories import DIMENSIONS
from environment.models import Area, DemographicMarginal
from polls.model.poststratify import area_cells, poststratify
from polls.model.store import poll_model_get
from polls.model.training import MODEL_VERSION, ModelDataError
from polls.models import Question

MAX_AREAS = 60
METHOD = (
    "Each area's estimate is the poll model's answer probabilities (multilevel regression on the "
    "poll: demographics, partially pooled state and region effects, area predictors dated before "
    "the poll) averaged over the area's census joint table of adults (age × sex × race/ethnicity "
    "× education × household income, raked to its ACS marginals), weighted by each cell's share. "
    "The 95% interval comes from 400 draws of the model's parameters (Laplace approximation to "
    "the posterior): it carries the model's uncertainty, not the poll's own errors. Describes all "
    "adults of the area, whatever universe the question was asked of."
)


class AreaEstimateQuerySerializer(QuerySerializer):
    areas = serializers.CharField(
        help_text=f"Comma-separated area ids, at most {MAX_AREAS} (e.g. texas_state,dallas_tx_city)"
    )


class QuestionAreaEstimatesView(APIView):
    @extend_schema(parameters=[AreaEstimateQuerySerializer], responses={200: dict})
    def get(self, request, pk: int):
        """The question's modelled answer shares for whole areas, with model intervals."""
        query = AreaEstimateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids = [a.strip() for a in query.validated_data["areas"].split(",") if a.strip()]
        if not ids or len(ids) > MAX_AREAS:
            raise DomainError(
                f"Give from 1 to {MAX_AREAS} area ids in areas=.", fields={"areas": ["count"]}
            )
        question = Question.objects.select_related("poll").filter(id=pk).first()
        if question is None:
            raise NotFound(f"Poll question {pk} does not exist; find ids at /api/v1/polls/<id>/.")
        areas = {a.pk: a for a in Area.objects.filter(id__in=ids)}
        unknown = [a for a in ids if a not in areas]
        if unknown:
            raise DomainError(
                f"Unknown area ids: {', '.join(unknown)} (see /api/v1/areas/).",
                fields={"areas": unknown},
            )
        measured: dict[str, set[str]] = {a: set() for a in ids}
        for area_id, dimension in DemographicMarginal.objects.filter(area_id__in=ids).values_list(
            "area_id", "dimension"
        ):
            measured[area_id].add(dimension)
        incomplete = {
            a: sorted(set(DIMENSIONS) - d) for a, d in measured.items() if set(DIMENSIONS) - d
        }
        if incomplete:
            raise DomainError(
                "These areas have no census joint table to poststratify (missing marginals): "
                + "; ".join(f"{a}: {', '.join(d)}" for a, d in incomplete.items())
                + ".",
                code="area_incomplete",
                fields={"areas": list(incomplete)},
            )
        try:
            fitted = poll_model_get(question)
        except ModelDataError as error:
            raise DomainError(
                f"Poll question {pk} cannot be modelled: {error}", code="unmodellable"
            ) from None
        options = {o.id: o for o in question.options.all()}
        ordered = [options[p] for p in fitted.options]
        estimates = poststratify(fitted, area_cells([areas[a] for a in ids]), by="area")
        return Response(
            {
                "question": question.id,
                "poll": question.poll.slug,
                "simulated": False,
                "model": {
                    "version": MODEL_VERSION,
                    "respondents": fitted.fit.n,
                    "dimensions": fitted.spec.dimensions,
                    "state_scale": fitted.spec.state_scale,
                    "interaction_scale": fitted.spec.interaction_scale,
                    "area_predictors": {
                        k: v["description"] for k, v in fitted.spec.area_predictors.items()
                    },
                },
                "estimates": [
                    {
                        "area": a,
                        "name": areas[a].name,
                        "options": [
                            {
                                "code": o.code,
                                "label": o.label,
                                "share": float(s),
                                "ci_low": float(lo),
                                "ci_high": float(hi),
                            }
                            for o, s, lo, hi in zip(
                                ordered,
                                estimates[a].shares,
                                estimates[a].low,
                                estimates[a].high,
                                strict=True,
                            )
                        ],
                    }
                    for a in ids
                ],
                "confidence": 0.95,
                "method": METHOD,
            }
        )
