from __future__ import annotations

from django.db import models
from django.db.models import Q

from environment.categories import choices


class Population(models.Model):
    """A reproducible set of personas sampled from the census marginals of one or more areas.

    A large one is built off the request (personas.tasks): it is `queued`, then `building`, then
    `ready` (or `failed`); only a ready population may be used."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        BUILDING = "building"
        READY = "ready"
        FAILED = "failed"

    name = models.CharField(max_length=200, blank=True)
    size = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    method = models.CharField(
        max_length=200,
        default="independent draws from each area's marginals",
        help_text="How personas were sampled",
    )
    constraints = models.JSONField(
        default=dict,
        blank=True,
        help_text="Who may be in the population: age_min, age_max, allowed categories per dimension",
    )
    validation_report = models.JSONField(
        default=dict,
        blank=True,
        help_text="Target vs achieved share per category and dimension, overall and per area",
    )
    include_behavioral_characteristics = models.BooleanField(
        default=False, help_text="Personas carry the full profile (personas.profile)"
    )
    # Rows built in the request (and imported pools) are ready when created; the API's deferred
    # build sets `queued` explicitly.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.READY)
    stage = models.CharField(max_length=200, blank=True, help_text="What the build is doing")
    personas_done = models.PositiveIntegerField(default=0)
    error_message = models.TextField(
        blank=True, help_text="Why the build failed, for users (details are in the server log)"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # An off-request build commits its personas batch by batch (personas.build): these say
    # which worker owns it, when it last moved, and where a re-delivered task resumes.
    build_attempt = models.PositiveIntegerField(
        default=0, help_text="Times a worker took the build up (a newer attempt stops older ones)"
    )
    progress_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of progress of the build; the watchdog takes up one silent too long",
    )
    build_state = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where an interrupted build resumes: the profile stream's state at the start "
        "of the block being written",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="population_size_positive")
        ]

    def __str__(self) -> str:
        return self.name or f"Population {self.pk}"

    def get_absolute_url(self) -> str:
        # The population page is personas/urls.py's (its composition against census targets).
        return f"/populations/{self.pk}/"


class PopulationArea(models.Model):
    population = models.ForeignKey(Population, on_delete=models.CASCADE, related_name="areas")
    area = models.ForeignKey("environment.Area", on_delete=models.PROTECT, related_name="+")
    weight = models.FloatField(help_text="Share of the population drawn from this area")
    personas = models.PositiveIntegerField(help_text="Personas allocated to this area")

    class Meta:
        ordering = ["population", "-weight"]
        constraints = [
            models.UniqueConstraint(fields=["population", "area"], name="population_area_unique"),
            models.CheckConstraint(
                condition=Q(weight__gt=0), name="population_area_weight_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area_id} ({self.personas} personas)"


class Persona(models.Model):
    population = models.ForeignKey(Population, on_delete=models.CASCADE, related_name="personas")
    index = models.PositiveIntegerField(help_text="Position in the population, from 0")
    area = models.ForeignKey("environment.Area", on_delete=models.PROTECT, related_name="+")
    age = models.PositiveSmallIntegerField()
    age_bracket = models.CharField(max_length=10, choices=choices("age_bracket"))
    sex = models.CharField(max_length=10, choices=choices("sex"))
    race_ethnicity = models.CharField(max_length=12, choices=choices("race_ethnicity"))
    education = models.CharField(max_length=15, choices=choices("education"))
    income = models.CharField(max_length=12, choices=choices("income"))
    name = models.CharField(max_length=120, blank=True, help_text="Drawn with the profile")
    # The full profile of personas.profile.PROFILE_FIELDS (behavioural characteristics, Big Five,
    # occupation, tech profile, names); null when the population was made without it.
    profile = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["population", "index"]
        constraints = [
            models.UniqueConstraint(fields=["population", "index"], name="persona_unique_index"),
            models.CheckConstraint(condition=Q(age__gte=18), name="persona_adult"),
        ]

    def __str__(self) -> str:
        return f"Persona {self.population_id}/{self.index}"
