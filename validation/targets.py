"""Validation targets: every poll question with enough respondents, validated again whenever the
model, the data or the code changes, so its accuracy is a series over time.

A target's runs are held-out validations (`validation.holdout`) with a fixed split (seed 0,
20 % held out): between two runs of a target only the versions differ, not the random split.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from polls.models import Poll, Response
from validation.models import ValidationRun, ValidationTarget
from validation.versions import versions_of

# A question becomes a target with at least this many answers: 20 % held out is then >= 100
# respondents (several groups of min_group = 30 to report), and the 400 trained on are four
# times what the poll model needs (polls.model.training.MIN_RESPONDENTS = 100) and fill the
# smallest demographic cell (POLL_CELL_MIN_RESPONDENTS = 30) many times over.
MIN_TARGET_RESPONDENTS = 500
TARGET_HOLDOUT_FRACTION = 0.2
TARGET_SEED = 0
TARGET_MIN_GROUP = 30


@transaction.atomic
def validation_targets_sync(*, poll: Poll) -> list[ValidationTarget]:
    """Make every question of `poll` with enough answers a target (and switch off the targets of
    questions a re-import left with too few); returns the active targets of the poll."""
    counts = dict(
        Response.objects.filter(question__poll=poll)
        .values_list("question_id")
        .annotate(n=Count("id"))
        .values_list("question_id", "n")
    )
    for question in poll.questions.all():
        n = counts.get(question.id, 0)
        enough = n >= MIN_TARGET_RESPONDENTS
        if enough:
            ValidationTarget.objects.update_or_create(
                question=question, defaults={"respondents": n, "active": True}
            )
        else:
            ValidationTarget.objects.filter(question=question).update(respondents=n, active=False)
    return list(ValidationTarget.objects.filter(question__poll=poll, active=True))


@dataclass(frozen=True)
class DueTarget:
    target: ValidationTarget
    versions: dict[str, str]
    reason: str


def validation_targets_due() -> list[DueTarget]:
    """The active targets whose latest run was made with other versions than the current ones
    (or that have none). A run with the current versions counts whatever its state — queued,
    running, completed or failed — so a run in progress is not queued twice and a failure is
    not retried until something changes."""
    due = []
    for target in ValidationTarget.objects.filter(active=True).select_related("question__poll"):
        versions = versions_of(target.question)
        latest = (
            ValidationRun.objects.filter(target=target)
            .order_by("-created_at", "-id")
            .values("model_version", "data_version", "code_version")
            .first()
        )
        if latest is None:
            due.append(DueTarget(target, versions, "never validated"))
            continue
        changed = [k for k, v in versions.items() if latest[k] != v]
        if changed:
            due.append(DueTarget(target, versions, "changed: " + ", ".join(changed)))
    return due


def validation_target_queue(*, target: ValidationTarget, versions: dict[str, str]) -> ValidationRun:
    """Store a queued held-out run of `target` with the versions it validates and hand it to a
    worker after commit."""
    from validation.tasks import validation_run_execute_task

    run = ValidationRun.objects.create(
        question=target.question,
        target=target,
        design=ValidationRun.Design.HOLDOUT,
        status=ValidationRun.Status.QUEUED,
        method="poll_model",
        holdout_fraction=TARGET_HOLDOUT_FRACTION,
        seed=TARGET_SEED,
        params={"min_group": TARGET_MIN_GROUP},
        **versions,
    )
    transaction.on_commit(lambda: validation_run_execute_task.delay(run.id))
    return run


def validation_targets_revalidate() -> list[ValidationRun]:
    """Queue a run for every target that is due (the beat task's work)."""
    return [
        validation_target_queue(target=d.target, versions=d.versions)
        for d in validation_targets_due()
    ]
