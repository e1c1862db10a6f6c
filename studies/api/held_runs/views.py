"""Held runs over the API: a run asked for on a population still being built, started by the
build once it is ready (studies.services.held_runs). Each client sees its own (staff: all);
another client's is a 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from personas.selectors import population_list
from studies.api.held_runs.serializers import (
    CANCEL_CONFLICT,
    HOLD_CONFLICT,
    RETRY_CONFLICT,
    START_CONFLICT,
    START_REFUSED,
    HeldRunFilterSerializer,
    HeldRunSerializer,
)
from studies.api.serializers import RunCreateSerializer
from studies.api.views import visible_lookup
from studies.models import HeldRun
from studies.selectors import held_run_list, study_list
from studies.services.held_runs import (
    held_run_cancel,
    held_run_hold,
    held_run_retry,
    held_run_start_now,
)


def _held_run(request, pk: int) -> HeldRun:
    return get_object_or_404(held_run_list(user=request.user).select_related("population"), pk=pk)


class HeldRunListCreateView(generics.ListAPIView):
    serializer_class = HeldRunSerializer
    starts_work = True

    def get_queryset(self):
        filters = HeldRunFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        held_runs = held_run_list(user=self.request.user)
        if "status" in filters.validated_data:
            held_runs = held_runs.filter(status=filters.validated_data["status"])
        if "population" in filters.validated_data:
            held_runs = held_runs.filter(population_id=filters.validated_data["population"])
        return held_runs

    @extend_schema(parameters=[HeldRunFilterSerializer])
    def get(self, request, *args, **kwargs):
        """The caller's held runs (staff: everyone's), newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=RunCreateSerializer, responses={202: HeldRunSerializer, 409: HOLD_CONFLICT}
    )
    def post(self, request):
        """Hold a run until its population is built: the body of POST /api/v1/runs/, checked now
        for what does not need the personas (backend, study, config, budget, daily quota), the
        rest when it starts. 202 with the held run (`Location` is its URL): `held` while the
        population builds, then started by the build (poll it, or list `?population=`); on a
        population already ready it starts at once (`started`, `run` set), and a refusal then is
        answered as POST /api/v1/runs/ would answer it, with nothing held."""
        data = RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        held = held_run_hold(
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
            request=request,
        )
        return Response(
            HeldRunSerializer(held).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/held-runs/{held.pk}/"},
        )


class HeldRunDetailView(generics.RetrieveAPIView):
    serializer_class = HeldRunSerializer

    def get_queryset(self):
        return held_run_list(user=self.request.user)


class HeldRunCancelView(APIView):
    @extend_schema(request=None, responses={204: None, 409: CANCEL_CONFLICT})
    def post(self, request, pk: int):
        """Drop a run still waiting for its population (the population goes on building); one
        that started is cancelled as a run (POST /api/v1/runs/{run}/cancel/), 409 here."""
        held_run_cancel(
            held_run=_held_run(request, pk), actor=request.user, via="api", request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class HeldRunStartView(APIView):
    starts_work = True

    @extend_schema(
        request=None,
        responses={200: HeldRunSerializer, 400: START_REFUSED, 409: START_CONFLICT},
    )
    def post(self, request, pk: int):
        """Start it now, on a ready population, without waiting for the build's own start (or
        the watchdog's); one already started is answered as it is, so asking twice starts one
        run."""
        held = held_run_start_now(
            held_run=_held_run(request, pk), actor=request.user, via="api", request=request
        )
        return Response(HeldRunSerializer(held).data)


class HeldRunRetryView(APIView):
    starts_work = True

    @extend_schema(
        request=None,
        responses={200: HeldRunSerializer, 400: START_REFUSED, 409: RETRY_CONFLICT},
    )
    def post(self, request, pk: int):
        """Retry a failed held run: on a ready population it starts now, through the same
        checks (a refusal fails it again, with its message); on one still being built it is
        held again; on a failed population, 409: create a new population."""
        held = held_run_retry(
            held_run=_held_run(request, pk), actor=request.user, via="api", request=request
        )
        return Response(HeldRunSerializer(held).data)
