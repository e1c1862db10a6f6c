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
    think_aloud = models.BooleanField(
        default=False, help_text="Personas write what goes through their head for each item"
    )
    time_on_task = models.BooleanField(
        default=False, help_text="Personas give a simulated time on task for each item"
    )

    class Universe(models.TextChoices):
        QUESTION = "question", "Whom each poll question was asked of"
        ALL_ADULTS = "all_adults", "All adults"

    universe = models.CharField(
        max_length=12,
        choices=Universe.choices,
        default=Universe.QUESTION,
        help_text="Whom the results describe when a poll question was asked of part of its "
        "sample (e.g. likely voters): those people (personas weighted by their modelled chance of "
        "belonging), or every adult",
    )
    allow_foreign_polls = models.BooleanField(
        default=False,
        help_text="Allow items grounded in polls of another country than the personas' (US)",
    )
    prompt_templates = models.JSONField(
        default=dict,
        blank=True,
        help_text="The study's own prompt templates by step (system, context, consistency, "
        "experience, participation); a step left out uses templates/engine/<step>.md",
    )
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
        STOPPED = "stopped", "Stopped at the budget cap"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.STOPPED)

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="runs")
    population = models.ForeignKey(
        "personas.Population", on_delete=models.PROTECT, related_name="runs"
    )
    backend = models.CharField(max_length=40)
    backend_config = models.JSONField(
        default=dict,
        blank=True,
        help_text="The backend's settings for this run (for the LLM backend: provider, model, "
        "sampling parameters, engine depth); never an API key",
    )
    seed = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    personas_total = models.PositiveIntegerField()
    personas_done = models.PositiveIntegerField(default=0)
    chunk_size = models.PositiveIntegerField()
    personas_failed = models.PositiveIntegerField(
        default=0, help_text="Personas the backend could not answer (reasons in their records)"
    )
    error_message = models.TextField(blank=True)
    results = models.JSONField(null=True, blank=True)
    budget = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Cost cap: a run estimated above it is refused, a running one stops at it",
    )
    cost_estimate = models.JSONField(
        null=True, blank=True, help_text="The estimate made before the run started"
    )
    cost_spent = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    cost_complete = models.BooleanField(
        default=True, help_text="False once a call's price was unknown: cost_spent is then a floor"
    )
    llm_calls = models.PositiveIntegerField(default=0)
    cached_calls = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
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
    think_aloud = models.TextField(blank=True)
    time_on_task_seconds = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(
        null=True, blank=True, help_text="Option code -> probability the backend assigned, if known"
    )
    weight = models.FloatField(
        default=1.0,
        help_text="The persona's weight in this item's results: its modelled probability of "
        "belonging to the question's universe (1 when the question was asked of everyone)",
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


class RunPersona(models.Model):
    """One persona's passage through a run: the engine's artefacts, its usage, or why it failed.

    The artefacts are the seed's per-persona files: profile.json (`profile`), context.md
    (`context`, and `consistency` when checked), experience.md (`experience`) and response.json
    (`response`). The offline backend writes a context built from the structured profile and says
    so in `narrative_source`.
    """

    class Status(models.TextChoices):
        OK = "ok", "Answered"
        FAILED = "failed", "Failed"

    class NarrativeSource(models.TextChoices):
        LLM = "llm", "Written by the language model"
        POOL = "pool", "From the pre-defined persona pool"
        STRUCTURED_PROFILE = "structured_profile", "Built from the structured profile (offline)"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="persona_records")
    persona = models.ForeignKey(
        "personas.Persona", on_delete=models.CASCADE, related_name="run_records"
    )
    status = models.CharField(max_length=8, choices=Status.choices)
    failed_step = models.CharField(max_length=20, blank=True)
    failure = models.TextField(blank=True)
    narrative_source = models.CharField(max_length=20, choices=NarrativeSource.choices)
    profile = models.JSONField(default=dict)
    context = models.JSONField(null=True, blank=True)
    consistency = models.JSONField(null=True, blank=True)
    experience = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    llm_calls = models.PositiveIntegerField(default=0)
    cached_calls = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True, help_text="Empty when unpriced"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "persona"]
        constraints = [
            models.UniqueConstraint(fields=["run", "persona"], name="run_persona_once"),
        ]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"Run {self.run_id} / persona {self.persona_id}: {self.status}"
