"""Audit entries of the API's compound starts: a policy or market analysis creates its population,
study and run in one request, a multi-agent simulation its study and run; each is recorded as if
it had been created through its own endpoint, then the record that ties them together."""

from __future__ import annotations

from django.db import models

from accounts.models import AuditEvent
from accounts.services import audit_record
from studies.models import Run


def audit_compound_start(
    *, request, record: models.Model, run: Run, population_created: bool
) -> None:
    """Record the population (when the request built it), the study, the run's start and
    `record` (the analysis or simulation) as done by the requesting user through the API."""
    if population_created:
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.CREATE,
            obj=run.population,
            request=request,
        )
    audit_record(
        actor=request.user, action=AuditEvent.Action.CREATE, obj=run.study, request=request
    )
    audit_run_start(request=request, run=run)
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.CREATE,
        obj=record,
        request=request,
        detail={"run": run.pk},
    )


def audit_run_start(*, request, run: Run) -> None:
    """A run started by the requesting user through the API."""
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.START,
        obj=run,
        request=request,
        detail={"backend": run.backend, "study": run.study_id, "population": run.population_id},
    )
