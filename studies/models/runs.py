"""A run of a study over a population, the runs held for a population being built, and what a
run stores: who took part, each persona's record and answers."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.urls import reverse

from studies.models.studies import Item, ItemOption, Study


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
    has_participants = models.BooleanField(
        default=False,
        help_text="The run's personas are its RunParticipant rows (selected by the study's "
        "criteria and quotas, assigned to its conditions), not its whole population",
    )
    selection = models.JSONField(
        default=dict,
        blank=True,
        help_text="How the participants were selected and assigned: criteria, quotas, "
        "assignment, counts per condition and stratum",
    )
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
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life from a worker processing one of the run's chunks "
        "(studies.tasks); the watchdog resumes runs whose heartbeat stopped",
    )
    resume_count = models.PositiveIntegerField(
        default=0, help_text="Times the watchdog handed the run to the workers again"
    )
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

    def get_absolute_url(self) -> str:
        return reverse("run-page", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class HeldRun(models.Model):
    """A run asked for on a population still being built (by the study form, or an API client
    through POST /api/v1/held-runs/): started through `run_start` when the build completes
    (`studies.services.held_runs`), failed with the build, or refused then with a message its
    owner can act on; a failed one can be retried."""

    class Status(models.TextChoices):
        HELD = "held", "Waiting for the population"
        STARTED = "started", "Started"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="held_runs")
    population = models.ForeignKey(
        "personas.Population", on_delete=models.CASCADE, related_name="held_runs"
    )
    backend = models.CharField(max_length=40)
    backend_config = models.JSONField(
        default=dict, blank=True, help_text="As the run's: the backend's settings, never a key"
    )
    budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    # An API client holds a run with the body of POST /api/v1/runs/, so these too.
    seed = models.BigIntegerField(
        null=True, blank=True, help_text="As the run's; none: drawn when the run starts"
    )
    chunk_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="As the run's; none: the backend's default"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.HELD)
    run = models.OneToOneField(
        Run,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="held_run",
        help_text="The run started from it",
    )
    error_message = models.TextField(
        blank=True, help_text="Why it did not start, worded for its owner"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was started or failed"
    )
    created_by = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="held_runs")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A run only once started (it may be deleted later: then none); a failure says why.
            models.CheckConstraint(
                condition=Q(run__isnull=True) | Q(status="started"), name="held_run_run_if_started"
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(error_message=""),
                name="held_run_failed_has_message",
            ),
        ]

    def __str__(self) -> str:
        return f"Held run {self.pk} of {self.study} on population {self.population_id}"

    def get_absolute_url(self) -> str:
        # Shown on its population's page, with its state and actions.
        return f"/populations/{self.population_id}/#held-run-{self.pk}"


class Answer(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="answers")
    persona = models.ForeignKey(
        "personas.Persona", on_delete=models.CASCADE, related_name="answers"
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="answers")
    option = models.ForeignKey(
        ItemOption,
        on_delete=models.CASCADE,
        related_name="answers",
        null=True,
        blank=True,
        help_text="Single choice and Likert items: the option chosen",
    )
    choices = models.JSONField(
        null=True,
        blank=True,
        help_text="Multiple selection: the option codes chosen; ranking: the option codes in "
        "rank order (first = rank 1)",
    )
    number = models.FloatField(null=True, blank=True, help_text="Numeric items: the answer")
    text = models.TextField(blank=True, help_text="Free-text items: the answer")
    condition = models.CharField(
        max_length=80,
        blank=True,
        help_text="The code of the condition the persona was assigned to (copied from its "
        "RunParticipant so results split by condition without a join)",
    )
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


class RunParticipant(models.Model):
    """A persona selected for a run, at a position, with the condition it was assigned to.

    Written when the run starts, for studies with conditions, criteria or quotas
    (`Run.has_participants`); a run without them takes every persona of its population, in index
    order, and writes none. Chunks are ranges of `position`.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="participants")
    persona = models.ForeignKey("personas.Persona", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    condition = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="participant_position"),
            models.UniqueConstraint(fields=["run", "persona"], name="participant_once"),
        ]

    def __str__(self) -> str:
        return f"Run {self.run_id} #{self.position}: persona {self.persona_id}"


class _RunPersonaIterable(models.query.ModelIterable):
    """Records as stored, with the artefacts the offline chunk path derives rather than stores
    (profile.json, context, response.json) filled in, a batch of records at a time."""

    BATCH = 500

    def __iter__(self):
        from studies.backends.offline import offline_artefacts_fill

        batch: list = []
        for record in super().__iter__():
            batch.append(record)
            if len(batch) >= self.BATCH:
                offline_artefacts_fill(batch)
                yield from batch
                batch = []
        offline_artefacts_fill(batch)
        yield from batch


class RunPersonaQuerySet(models.QuerySet):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._iterable_class = _RunPersonaIterable


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

    objects = RunPersonaQuerySet.as_manager()

    class Meta:
        ordering = ["run", "persona"]
        constraints = [
            models.UniqueConstraint(fields=["run", "persona"], name="run_persona_once"),
        ]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"Run {self.run_id} / persona {self.persona_id}: {self.status}"
