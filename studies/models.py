from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.urls import reverse


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

    class Assignment(models.TextChoices):
        RANDOM = "random", "Random"
        BALANCED = "balanced", "Balanced within strata"

    class Depth(models.TextChoices):
        SHALLOW = "shallow", "Shallow (2-4 episodes)"
        STANDARD = "standard", "Standard (by tech proficiency)"
        DEEP = "deep", "Deep (twice the standard count)"

    assignment = models.CharField(
        max_length=10,
        choices=Assignment.choices,
        default=Assignment.RANDOM,
        help_text="How personas are assigned to the study's conditions (seed 004 §5.4): at random, "
        "or balanced within strata (area, and the profile fields in `balance_on`)",
    )
    balance_on = models.JSONField(
        default=list,
        blank=True,
        help_text="Profile fields (besides area) whose strata a balanced assignment evens out",
    )
    inclusion = models.JSONField(
        default=list,
        blank=True,
        help_text="Rules a persona must all meet to take part: "
        '[{"field": "age", "op": "between", "value": [18, 34]}, ...]',
    )
    exclusion = models.JSONField(
        default=list,
        blank=True,
        help_text="Rules that exclude a persona when any is met (same shape as `inclusion`)",
    )
    quotas = models.JSONField(
        default=dict,
        blank=True,
        help_text='Participants wanted per value of a profile field: {"sex": {"female": 15, '
        '"male": 15}} (seed 004 `distributions`)',
    )
    depth = models.CharField(
        max_length=10,
        choices=Depth.choices,
        default=Depth.STANDARD,
        help_text="Experience engineering depth (seed 004 §11.3)",
    )
    behavioral_measures = models.JSONField(
        default=list,
        blank=True,
        help_text="Behavioural data personas report per item besides time on task "
        "(errors, hesitations, abandonment)",
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

    def get_absolute_url(self) -> str:
        return reverse("study-page", args=[self.pk])


class Condition(models.Model):
    """An experimental arm of a study (e.g. control, message A): its own stimulus, and item
    variants keyed by its code (`Item.variants`). Personas are assigned to one before context
    engineering, and the assignment is stored on the run (`RunParticipant`)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions")
    order = models.PositiveSmallIntegerField(default=0)
    code = models.SlugField(max_length=80)
    label = models.CharField(max_length=200)
    stimulus = models.TextField(
        blank=True, help_text="What personas in this condition see before the items"
    )

    class Meta:
        ordering = ["study", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="condition_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.study_id}:{self.code}"


class Item(models.Model):
    """A question asked of every persona, of one of the item types; may be grounded in a poll
    question (its options then map to the poll's options through `ItemOption.poll_option`)."""

    class Type(models.TextChoices):
        SINGLE_CHOICE = "single_choice", "Single choice"
        MULTIPLE_CHOICE = "multiple_choice", "Multiple selection"
        LIKERT = "likert", "Likert / rating scale"
        NUMERIC = "numeric", "Numeric"
        RANKING = "ranking", "Ranking"
        FREE_TEXT = "free_text", "Free text"

    #: Types whose answers are options of the item (`ItemOption`s).
    WITH_OPTIONS = frozenset({Type.SINGLE_CHOICE, Type.MULTIPLE_CHOICE, Type.LIKERT, Type.RANKING})

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    order = models.PositiveSmallIntegerField(default=0)
    code = models.SlugField(max_length=80)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.SINGLE_CHOICE)
    text = models.TextField()
    variants = models.JSONField(
        default=dict,
        blank=True,
        help_text="The item's text per condition code, where a condition asks it differently",
    )
    min_value = models.FloatField(null=True, blank=True, help_text="Numeric items: lowest answer")
    max_value = models.FloatField(null=True, blank=True, help_text="Numeric items: highest answer")
    unit = models.CharField(max_length=40, blank=True, help_text="Numeric items: e.g. USD, hours")
    max_choices = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Multiple selection: most options one may choose"
    )
    poll_question = models.ForeignKey(
        "polls.Question", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["study", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="item_unique_code")]

    def __str__(self) -> str:
        return f"{self.study_id}:{self.code}"

    def text_for(self, condition_code: str | None) -> str:
        """The item's wording in a condition: its variant there, or its text."""
        return self.variants.get(condition_code, self.text) if condition_code else self.text


class ItemOption(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="options")
    order = models.PositiveSmallIntegerField(default=0)
    code = models.SlugField(max_length=80)
    label = models.CharField(max_length=200)
    value = models.FloatField(
        null=True,
        blank=True,
        help_text="Likert items: the option's point on the scale (1..n); its label is the anchor",
    )
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


class PolicyAnalysis(models.Model):
    """A policy-support analysis asked for through `/api/v1/political/…`: the policy, how its item's
    options map to stances, the poll question standing in for it offline, and the run answering it.

    The study and run are ordinary ones (run page, progress, exports); the run's results carry the
    policy figures (`studies.analyzers.policy`) that the analysis endpoint reshapes."""

    class Stance(models.TextChoices):
        SUPPORT = "support", "Support"
        OPPOSE = "oppose", "Oppose"
        NEUTRAL = "neutral", "Neutral"

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="policy")
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="policy_analysis")
    environmental = models.BooleanField(
        default=False, help_text="Asked for through analyze-environmental (per-area results)"
    )
    policy_description = models.TextField()
    policy_topic = models.CharField(max_length=200, blank=True)
    item_code = models.SlugField(max_length=80, help_text="The study item asking the policy")
    stances = models.JSONField(
        help_text="Option code -> support | oppose | neutral for the policy item's options"
    )
    stance_source = models.CharField(
        max_length=20, help_text="explicit (given in the request) or inferred (from option labels)"
    )
    proxy = models.JSONField(
        null=True,
        blank=True,
        help_text="Offline: the poll question answering for the policy (id, wording, score)",
    )
    target_demographics = models.JSONField(
        default=list, blank=True, help_text="Dimensions the message lifts are broken down by"
    )
    request = models.JSONField(default=dict, help_text="The request body as received")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "policy analyses"

    def __str__(self) -> str:
        return f"Policy analysis {self.pk}: {self.policy_description[:60]}"


class MarketAnalysis(models.Model):
    """A product-reception analysis asked for through `/api/v1/market/…`: the product, the price
    each condition shows, the target market and its size in people, and the run answering it.

    Each price is a condition of the study (a monadic, between-personas design): a persona sees
    one price only; features, when given, are one ranking item or one importance rating each. The
    run's results carry the market figures (`studies.analyzers.market`)."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="market")
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="market_analysis")
    product_name = models.CharField(max_length=200)
    product_description = models.TextField(blank=True)
    item_code = models.SlugField(max_length=80, help_text="The study item asking purchase intent")
    prices = models.JSONField(help_text="Condition code -> the price it shows")
    target_market = models.JSONField(
        default=dict, blank=True, help_text="The target as platform constraints (age, income codes)"
    )
    market_size = models.JSONField(
        default=dict,
        help_text="Per area: adults, the share meeting the target and the people it makes",
    )
    features = models.JSONField(
        default=list,
        blank=True,
        help_text="[{code, label}]: the product features whose importance the study asks",
    )
    feature_format = models.CharField(
        max_length=10,
        blank=True,
        choices=[("ranking", "One ranking item"), ("rating", "One importance rating per feature")],
        help_text="How the features are asked (blank: no features)",
    )
    segment_count = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Market segments fixed by the request (blank: chosen by the silhouette)",
    )
    request = models.JSONField(default=dict, help_text="The request body as received")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "market analyses"
        constraints = [
            models.CheckConstraint(
                condition=Q(segment_count__isnull=True)
                | Q(segment_count__gte=2, segment_count__lte=6),
                name="market_segment_count_range",
            ),
            models.CheckConstraint(
                condition=Q(feature_format__in=["", "ranking", "rating"]),
                name="market_feature_format_known",
            ),
        ]

    def __str__(self) -> str:
        return f"Market analysis {self.pk}: {self.product_name}"


class InfluenceSimulation(models.Model):
    """A multi-agent run: the run answers every persona independently (influence off), then its
    personas are tied in a homophily network (influence on): on the poll model their answer
    probabilities are updated by Friedkin–Johnsen rounds; on the LLM backend they deliberate,
    each reading its ties' answers and answering again; `studies.influence`."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="influence")
    scenario_description = models.TextField()
    enable_peer_influence = models.BooleanField(default=True)
    parameters = models.JSONField(
        default=dict,
        help_text="Network (group size, mean degree, homophily strengths, seed) and dynamics "
        "(susceptibility scale, round limit, tolerance) settings",
    )
    results = models.JSONField(
        null=True, blank=True, help_text="Group dynamics, influence effects, shares off and on"
    )
    responses = models.JSONField(
        null=True, blank=True, help_text="Each persona's answer before and after influence"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Influence simulation {self.pk} (run {self.run_id})"
