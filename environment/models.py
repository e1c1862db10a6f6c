from __future__ import annotations

from django.db import models
from django.db.models import Q

from environment.categories import DIMENSIONS


class Area(models.Model):
    """A place personas live in: a state (or DC) or a city, with census marginals."""

    class Kind(models.TextChoices):
        STATE = "state", "State"
        CITY = "city", "City"

    id = models.SlugField(
        primary_key=True, max_length=80, help_text="e.g. dallas_tx_city, texas_state"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=2, help_text="USPS state code, e.g. TX")
    state_name = models.CharField(max_length=60)
    fips = models.CharField(max_length=12, help_text="State FIPS, or state + place FIPS for a city")
    population = models.PositiveBigIntegerField()
    adult_population = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Residents aged 18 or over (blank where the source lacks it)",
    )
    county_fips = models.CharField(max_length=5, blank=True)
    county_name = models.CharField(max_length=80, blank=True)
    source = models.CharField(max_length=300)
    year = models.PositiveSmallIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "state", "name"]
        indexes = [models.Index(fields=["state", "kind"]), models.Index(fields=["name"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(adult_population__lte=models.F("population")),
                name="area_adults_within_population",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.state})"


class DemographicMarginal(models.Model):
    """Share of an area's adults in one category of one dimension, with its provenance."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="marginals")
    dimension = models.CharField(max_length=20, choices=[(d, d) for d in DIMENSIONS])
    category = models.CharField(max_length=20)
    share = models.FloatField()
    universe = models.CharField(max_length=80, help_text="Who the share is of, e.g. 'adults 18+'")
    source = models.CharField(max_length=300)
    year = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["area", "dimension", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["area", "dimension", "category"], name="marginal_unique_category"
            ),
            models.CheckConstraint(
                condition=Q(share__gte=0) & Q(share__lte=1), name="marginal_share_in_unit_interval"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.dimension}={self.category}: {self.share:.3f}"
