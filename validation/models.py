from __future__ import annotations

from django.db import models
from django.db.models import Q


class ValidationTarget(models.Model):
    """A poll question with enough respondents to be validated again and again (created when its
    poll is imported; `validation.targets`): its runs make accuracy a series."""

    question = models.OneToOneField(
        "polls.Question", on_delete=models.CASCADE, related_name="validation_target"
    )
    respondents = models.PositiveIntegerField(help_text="Answers to the question at the import")
    active = models.BooleanField(
        default=True, help_text="Off when a re-import left it too few respondents"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["question_id"]

    def __str__(self) -> str:
        return f"Validation target: question {self.question_id}"


class ValidationRun(models.Model):
    """A held-out check of how well a method reproduces a real poll question's answers."""

    class Design(models.TextChoices):
        HOLDOUT = "holdout", "Held-out respondents predicted from their own demographics"
        SUBSAMPLE = "subsample", "Area estimates from subsamples against the full sample"
        LEAVE_AREAS_OUT = "leave_areas_out", "Held-out areas, with and without area predictors"
        OFFICIAL_RESULTS = "official_results", "Area estimates against official election results"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    question = models.ForeignKey("polls.Question", on_delete=models.CASCADE, related_name="+")
    design = models.CharField(max_length=20, choices=Design.choices, default=Design.HOLDOUT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETED)
    params = models.JSONField(default=dict, blank=True, help_text="The design's parameters")
    progress = models.JSONField(default=dict, blank=True, help_text="Steps done of steps total")
    error_message = models.TextField(blank=True)
    method = models.CharField(max_length=40, default="poll_cell")
    holdout_fraction = models.FloatField(null=True, blank=True)
    seed = models.BigIntegerField()
    min_cell = models.PositiveIntegerField(default=0)
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict)
    target = models.ForeignKey(
        ValidationTarget, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    model_version = models.CharField(
        max_length=120, blank=True, help_text="Versions of the models scored (validation.versions)"
    )
    data_version = models.CharField(
        max_length=64, blank=True, help_text="Hash of the question's respondents and answers"
    )
    code_version = models.CharField(
        max_length=120, blank=True, help_text="Validation code version and deployed revision"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_fraction__isnull=True)
                | (Q(holdout_fraction__gt=0) & Q(holdout_fraction__lt=1)),
                name="validation_holdout_fraction_open_unit",
            )
        ]

    def __str__(self) -> str:
        return f"Validation {self.pk} of question {self.question_id}"
