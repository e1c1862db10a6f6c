from __future__ import annotations

from django.db import models
from django.db.models import Q


class ValidationRun(models.Model):
    """A held-out check of how well a method reproduces a real poll question's answers."""

    question = models.ForeignKey("polls.Question", on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=40, default="poll_cell")
    holdout_fraction = models.FloatField()
    seed = models.BigIntegerField()
    min_cell = models.PositiveIntegerField()
    n_train = models.PositiveIntegerField()
    n_test = models.PositiveIntegerField()
    metrics = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_fraction__gt=0) & Q(holdout_fraction__lt=1),
                name="validation_holdout_fraction_open_unit",
            )
        ]

    def __str__(self) -> str:
        return f"Validation {self.pk} of question {self.question_id}"
