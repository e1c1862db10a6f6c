"""A study: what is asked (its items and their options) and of whom (its conditions)."""

from __future__ import annotations

from django.db import models
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
