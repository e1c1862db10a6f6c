from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ConflictError, DomainError
from personas.models import Population
from studies.api.serializers import (
    RunCreateSerializer,
    RunResultsSerializer,
    RunSerializer,
    StudyCreateSerializer,
    StudySerializer,
)
from studies.models import Run, Study
from studies.progress import ChannelsProgressReporter
from studies.selectors import run_list, study_list
from studies.services import ItemSpec, OptionSpec, run_cancel, run_start, study_create


class StudyListCreateView(generics.ListAPIView):
    serializer_class = StudySerializer

    def get_queryset(self):
        return study_list()

    @extend_schema(request=StudyCreateSerializer, responses={201: StudySerializer})
    def post(self, request):
        data = StudyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        study = study_create(
            title=v["title"],
            description=v["description"],
            kind=v["kind"],
            items=[
                ItemSpec(
                    code=i["code"],
                    text=i["text"],
                    poll_question_id=i.get("poll_question"),
                    options=[OptionSpec(o["code"], o["label"]) for o in i["options"]],
                )
                for i in v["items"]
            ],
            created_by=request.user,
        )
        return Response(
            StudySerializer(study_list().get(pk=study.pk)).data, status=status.HTTP_201_CREATED
        )


class StudyDetailView(generics.RetrieveAPIView):
    serializer_class = StudySerializer

    def get_queryset(self):
        return study_list()


def _lookup(model, pk: int, field: str):
    obj = model.objects.filter(pk=pk).first()
    if obj is None:
        raise DomainError(
            f"{model.__name__} {pk} does not exist.",
            code=f"unknown_{field}",
            fields={field: ["not found"]},
        )
    return obj


class RunListCreateView(generics.ListAPIView):
    serializer_class = RunSerializer

    def get_queryset(self):
        return run_list()

    @extend_schema(request=RunCreateSerializer, responses={201: RunSerializer})
    def post(self, request):
        data = RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        run = run_start(
            study=_lookup(Study, v["study"], "study"),
            population=_lookup(Population, v["population"], "population"),
            backend=v["backend"],
            seed=v.get("seed"),
            chunk_size=v.get("chunk_size"),
            created_by=request.user,
        )
        run.refresh_from_db()
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailView(generics.RetrieveAPIView):
    serializer_class = RunSerializer

    def get_queryset(self):
        return run_list()


class RunCancelView(APIView):
    @extend_schema(request=None, responses={200: RunSerializer})
    def post(self, request, pk: int):
        run = get_object_or_404(Run, pk=pk)
        run = run_cancel(run=run, reporter=ChannelsProgressReporter(run.id))
        return Response(RunSerializer(run).data)


class RunResultsView(APIView):
    @extend_schema(responses={200: RunResultsSerializer})
    def get(self, request, pk: int):
        run = get_object_or_404(Run, pk=pk)
        if run.results is None:
            raise ConflictError(
                f"Run {run.id} is {run.status} and has no results yet; poll /api/v1/runs/{run.id}/ "
                "or watch its WebSocket until it completes.",
                code="results_not_ready",
            )
        return Response(run.results)
