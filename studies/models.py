from __future__ import annotations

from django.db import models
from django.db.models import Q


class Study(models.Model):
    class Kind(models.TextChoices):
        POLICY_SUPPORT = "policy_support", "Policy support"
        MESSAGE_TEST = "message_test", "Message test"
        PRODUCT_PRICING = "product_pricing", "Product reception across prices"
        FEATURE_PREFERENCE = "feature_preference", "Feature preference"
        QUESTIONNAIRE = "questionnaire", "Questionnaire with conditions"
        MULTI_AGENT = "multi_agent", "Group with mutual influence"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=24, choices=Kind.choices, default=Kind.POLICY_SUPPORT)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.title


class Item(models.Model):
    """A single-choice question asked of every persona; may be grounded in a poll question."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    order = models.PositiveSmallIntegerField(default=0)
    code = models.SlugField(max_length=80)
    text = models.TextField()
    poll_question = models.ForeignKey(
        "polls.Question", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["study", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="item_unique_code")]

    def __str__(self) -> str:
        return f"{self.study_id}:{self.code}"


class ItemOption(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="options")
    order = models.PositiveSmallIntegerField(default=0)
    code = models.SlugField(max_length=80)
    label = models.CharField(max_length=200)
    poll_option = models.ForeignKey(
        "polls.Option", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["item", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "code"], name="item_option_unique_code")
        ]

    def __str__(self) -> str:
        return self.label


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="runs")
    population = models.ForeignKey(
        "personas.Population", on_delete=models.PROTECT, related_name="runs"
    )
    backend = models.CharField(max_length=40)
    seed = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    personas_total = models.PositiveIntegerField()
    personas_done = models.PositiveIntegerField(default=0)
    chunk_size = models.PositiveIntegerField()
    error_message = models.TextField(blank=True)
    results = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(personas_done__lte=models.F("personas_total")),
                name="run_done_within_total",
            )
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.study}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class Answer(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="answers")
    persona = models.ForeignKey(
        "personas.Persona", on_delete=models.CASCADE, related_name="answers"
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="answers")
    option = models.ForeignKey(ItemOption, on_delete=models.CASCADE, related_name="answers")
    reasoning = models.TextField()
    probabilities = models.JSONField(
        null=True, blank=True, help_text="Option code -> probability the backend assigned, if known"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "persona", "item"]
        constraints = [
            # A re-delivered chunk cannot write a second answer for the same persona and item.
            models.UniqueConstraint(fields=["run", "persona", "item"], name="answer_once_per_item")
        ]

    def __str__(self) -> str:
        return f"Answer {self.run_id}/{self.persona_id}/{self.item_id}"
