"""Writes for polls: importing surveys and events, all or nothing (an uploaded file: per poll,
off the request, with progress)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from environment.models import Area
from polls.importers import ImportPlan, PollImportError, crosstabs_compute
from polls.importers.events import EventPlan
from polls.models import (
    Crosstab,
    MajorEvent,
    Option,
    Poll,
    PollImport,
    Question,
    Respondent,
    Response,
)
from validation.targets import validation_targets_sync

POLL_FIELDS = (
    "title", "pollster", "year", "field_start", "field_end", "population", "mode", "source",
    "licence", "topic_tags", "sample_size", "country",
)  # fmt: skip
BATCH = 5000
logger = logging.getLogger(__name__)


def poll_data_changed(*, poll_ids) -> None:
    """Mark polls' respondents or answers as changed outside an import (an admin's edit):
    `data_changed_at` moves, so what processes kept of their answers is read again
    (`personas.engine.grounding`, `studies.quality`)."""
    Poll.objects.filter(pk__in=list(poll_ids)).update(data_changed_at=timezone.now())


@dataclass(frozen=True)
class PollImportReport:
    poll: Poll
    created: bool
    questions: int
    respondents: int
    responses: int
    crosstabs: int


@dataclass(frozen=True)
class EventsImportReport:
    created: int
    updated: int


def _poll_defaults(plan: ImportPlan) -> dict[str, Any]:
    values: dict[str, Any] = {k: plan.poll.get(k) for k in POLL_FIELDS if k in plan.poll}
    for key in ("field_start", "field_end"):
        if isinstance(values.get(key), str):
            try:
                values[key] = dt.date.fromisoformat(values[key])
            except ValueError as exc:
                raise PollImportError(
                    [f"mapping: poll {key} '{values[key]}' is not YYYY-MM-DD"]
                ) from exc
    if (
        values.get("field_start")
        and values.get("field_end")
        and values["field_start"] > values["field_end"]
    ):
        raise PollImportError(["mapping: poll field_start is after field_end"])
    if not values.get("year") and (values.get("field_end") or values.get("field_start")):
        values["year"] = (values.get("field_end") or values["field_start"]).year
    values.setdefault("topic_tags", [])
    for key in ("mode", "licence"):
        values[key] = values.get(key) or ""
    if plan.kind == "microdata" or "sample_size" not in values:
        values["sample_size"] = len(plan.respondents) or values.get("sample_size") or 0
    return values


def _poll_clear_rows(poll: Poll) -> None:
    # Respondents, responses and crosstabs are replaced wholesale: the file is the truth for its
    # poll. Nothing but Response points at Respondent, and nothing points at Response or Crosstab,
    # so plain DELETEs are safe and avoid the ORM collecting 60,000 rows to cascade one by one.
    Response.objects.filter(respondent__poll=poll)._raw_delete(Response.objects.db)
    Respondent.objects.filter(poll=poll)._raw_delete(Respondent.objects.db)
    Crosstab.objects.filter(question__poll=poll)._raw_delete(Crosstab.objects.db)


@transaction.atomic
def poll_import(*, plan: ImportPlan) -> PollImportReport:
    """Create or update a poll from a validated plan; re-importing the same slug never duplicates."""
    defaults = {**_poll_defaults(plan), "data_changed_at": timezone.now()}
    poll, created = Poll.objects.update_or_create(slug=plan.poll["slug"], defaults=defaults)
    if not created:
        _poll_clear_rows(poll)

    # Questions and options keep their ids across re-imports: study items link to them.
    keep_codes = [q.code for q in plan.questions]
    Question.objects.filter(poll=poll).exclude(code__in=keep_codes).delete()
    option_ids: dict[tuple[str, str], int] = {}
    question_ids: dict[str, int] = {}
    for qp in plan.questions:
        question, _ = Question.objects.update_or_create(
            poll=poll,
            code=qp.code,
            defaults={
                "text": qp.text,
                "topic_tags": qp.topic_tags,
                "universe": qp.universe,
            },
        )
        question_ids[qp.code] = question.id
        question.options.exclude(code__in=[o.code for o in qp.options]).delete()
        for op in qp.options:
            option, _ = Option.objects.update_or_create(
                question=question,
                code=op.code,
                defaults={"label": op.label, "order": op.order, "ordinal_value": op.ordinal_value},
            )
            option_ids[(qp.code, op.code)] = option.id

    states = {rp.state for rp in plan.respondents if rp.state}
    state_areas = dict(
        Area.objects.filter(kind=Area.Kind.STATE, state__in=states).values_list("state", "id")
    )
    respondents = Respondent.objects.bulk_create(
        [
            Respondent(
                poll=poll,
                external_id=rp.external_id,
                weight=rp.weight,
                age_min=rp.age_min,
                age_max=rp.age_max,
                sex=rp.sex,
                race_ethnicity=rp.race_ethnicity,
                education=rp.education,
                income=rp.income,
                party=rp.party,
                state=rp.state,
                area_id=state_areas.get(rp.state),
            )
            for rp in plan.respondents
        ],
        batch_size=BATCH,
    )
    responses = [
        Response(
            respondent_id=respondent.id,
            question_id=question_ids[q_code],
            option_id=option_ids[(q_code, o_code)],
        )
        for respondent, rp in zip(respondents, plan.respondents, strict=True)
        for q_code, o_code in rp.answers.items()
    ]
    Response.objects.bulk_create(responses, batch_size=BATCH)

    origin = Crosstab.Origin.MICRODATA if plan.respondents else Crosstab.Origin.PUBLISHED
    cells = crosstabs_compute(plan) if plan.respondents else plan.crosstabs
    Crosstab.objects.bulk_create(
        [
            Crosstab(
                question_id=question_ids[q_code],
                dimension=dimension,
                category=category,
                option_id=option_ids[(q_code, o_code)],
                share=share,
                n=n,
                origin=origin,
            )
            for q_code, dimension, category, o_code, share, n in cells
        ],
        batch_size=BATCH,
    )
    # The questions with enough respondents become validation targets (re-validated by beat).
    validation_targets_sync(poll=poll)
    return PollImportReport(
        poll=poll,
        created=created,
        questions=len(plan.questions),
        respondents=len(respondents),
        responses=len(responses),
        crosstabs=len(cells),
    )


@transaction.atomic
def polls_import(*, plans: list[ImportPlan]) -> list[PollImportReport]:
    """Import several validated plans (a toplines file gives one per poll) as one transaction."""
    return [poll_import(plan=plan) for plan in plans]


@transaction.atomic
def events_import(*, plans: list[EventPlan]) -> EventsImportReport:
    """Create or update major events by (date, title)."""
    created = updated = 0
    for plan in plans:
        _, was_created = MajorEvent.objects.update_or_create(
            date=plan.date,
            title=plan.title,
            defaults={
                "type": plan.type,
                "description": plan.description,
                "related_topics": plan.related_topics,
                "source": plan.source,
            },
        )
        created += was_created
        updated += not was_created
    return EventsImportReport(created=created, updated=updated)


def poll_import_start(*, token: str, file_name: str = "", user=None) -> PollImport:
    """Queue the import of a checked upload (``VAR_DIR/poll_uploads/<token>``); the work happens
    in `poll_import_execute`, on a Celery worker (a thread of this process in the embedded setup,
    RUN_EXECUTOR as for runs), once this transaction commits."""
    from polls.tasks import poll_import_dispatch

    job = PollImport.objects.create(
        token=token, file_name=file_name[:255], created_by=user, stage="waiting for a worker"
    )
    transaction.on_commit(lambda: poll_import_dispatch(import_id=job.id))
    return job


def _poll_import_progress(job_id: int, **fields: Any) -> None:
    PollImport.objects.filter(id=job_id).update(**fields)


def poll_import_execute(*, import_id: int) -> PollImport:
    """Check the uploaded file again and import its polls, one transaction per poll (a file of
    toplines holds many), recording progress on the PollImport row after each. Importing a poll
    replaces its rows by slug, so importing the file again after a failure is safe. The admin
    history records each poll as a change by the user who confirmed the upload."""
    from django.contrib.admin.models import ADDITION, CHANGE, LogEntry

    from polls.uploads import upload_check, upload_dir

    job = PollImport.objects.get(id=import_id)
    if job.is_finished:
        return job
    _poll_import_progress(
        job.id,
        status=PollImport.Status.RUNNING,
        started_at=timezone.now(),
        stage="checking the file",
    )
    folder = upload_dir() / job.token
    if not job.token.isalnum() or not folder.is_dir():
        problems = [
            "The uploaded file is gone (it expired, or was already imported); upload it again."
        ]
        plans: list[ImportPlan] = []
    else:
        _, plans, problems = upload_check(folder)
    if problems:
        _poll_import_progress(
            job.id,
            status=PollImport.Status.FAILED,
            problems=problems,
            stage="nothing was imported",
            finished_at=timezone.now(),
        )
        shutil.rmtree(folder, ignore_errors=True)
        job.refresh_from_db()
        return job
    _poll_import_progress(job.id, polls_total=len(plans), stage=f"importing {len(plans)} poll(s)")
    summary: list[str] = []
    try:
        for done, plan in enumerate(plans, start=1):
            report = poll_import(plan=plan)
            line = (
                f"{report.poll.slug}: {report.respondents} respondents, {report.responses} "
                f"responses, {report.crosstabs} crosstab rows"
            )
            if plan.dropped:
                line += f"; left out as the mapping says: {plan.dropped_summary}"
            summary.append(line)
            if job.created_by_id is not None:
                LogEntry.objects.log_actions(
                    user_id=job.created_by_id,
                    queryset=[report.poll],
                    action_flag=ADDITION if report.created else CHANGE,
                    change_message="Imported from an uploaded file: " + line.split(": ", 1)[1],
                    single_object=True,
                )
            _poll_import_progress(
                job.id, polls_done=done, summary=summary, stage=f"imported {report.poll.slug}"
            )
    except Exception as exc:
        logger.exception("Poll import %s failed", job.id)
        _poll_import_progress(
            job.id,
            status=PollImport.Status.FAILED,
            problems=[
                f"The import stopped after {len(summary)} of {len(plans)} poll(s) "
                f"({type(exc).__name__}); importing the file again replaces them safely."
            ],
            stage="stopped",
            finished_at=timezone.now(),
        )
        raise
    shutil.rmtree(folder, ignore_errors=True)
    _poll_import_progress(
        job.id,
        status=PollImport.Status.COMPLETED,
        stage=f"imported {len(plans)} poll(s)",
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job
