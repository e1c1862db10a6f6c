from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from accounts.models import AuditEvent
from accounts.services import audit_record
from config.errors import DomainError
from polls.models import Question
from validation.api.serializers import (
    AccuracyReportQuerySerializer,
    AccuracyReportSerializer,
    ValidationDesignCreateSerializer,
    ValidationRunCreateSerializer,
    ValidationRunSerializer,
)
from validation.designs import validation_run_design
from validation.selectors import validation_accuracy_report, validation_run_list
from validation.services import validation_run_holdout


class ValidationRunListCreateView(generics.ListAPIView):
    serializer_class = ValidationRunSerializer
    starts_work = True

    def get_queryset(self):
        return validation_run_list(user=self.request.user)

    @extend_schema(request=ValidationRunCreateSerializer, responses={201: ValidationRunSerializer})
    def post(self, request):
        data = ValidationRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        question = Question.objects.filter(id=v["question"]).first()
        if question is None:
            raise DomainError(
                f"Poll question {v['question']} does not exist; find ids at /api/v1/polls/<id>/.",
                code="unknown_poll_question",
                fields={"question": ["not found"]},
            )
        run = validation_run_holdout(
            question=question,
            holdout_fraction=v["holdout_fraction"],
            seed=v["seed"],
            min_group=v["min_group"],
            llm=v.get("llm"),
            llm_personas=v["llm_personas"],
            created_by=request.user,
        )
        audit_record(actor=request.user, action=AuditEvent.Action.START, obj=run, request=request)
        return Response(ValidationRunSerializer(run).data, status=status.HTTP_201_CREATED)


def _question(question_id: int) -> Question:
    question = Question.objects.select_related("poll").filter(id=question_id).first()
    if question is None:
        raise DomainError(
            f"Poll question {question_id} does not exist; find ids at /api/v1/polls/<id>/.",
            code="unknown_poll_question",
            fields={"question": ["not found"]},
        )
    return question


class ValidationDesignCreateView(generics.GenericAPIView):
    serializer_class = ValidationDesignCreateSerializer
    starts_work = True

    @extend_schema(
        request=ValidationDesignCreateSerializer, responses={202: ValidationRunSerializer}
    )
    def post(self, request):
        """Queue an area-level validation (subsample, leave-areas-out or official results); follow
        its status and progress at /api/v1/validation/runs/<id>/."""
        data = ValidationDesignCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        run = validation_run_design(
            question=_question(v["question"]),
            design=v["design"],
            params=v["params"],
            seed=v["seed"],
            created_by=request.user,
        )
        audit_record(actor=request.user, action=AuditEvent.Action.START, obj=run, request=request)
        return Response(ValidationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ValidationRunDetailView(generics.RetrieveAPIView):
    serializer_class = ValidationRunSerializer

    def get_queryset(self):
        return validation_run_list(user=self.request.user)


class AccuracyReportView(generics.GenericAPIView):
    serializer_class = AccuracyReportSerializer

    @extend_schema(
        parameters=[AccuracyReportQuerySerializer], responses={200: AccuracyReportSerializer}
    )
    def get(self, request):
        """Accuracy of the platform over the validation runs of the last `days` days (the
        platform's scheduled runs and the caller's own): overall, by
        topic, by backend (with calibration), the daily trend, the environmental lift, and
        recommendations from measured weaknesses."""
        query = AccuracyReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = validation_accuracy_report(days=query.validated_data["days"], user=request.user)
        return Response(AccuracyReportSerializer(report).data)
