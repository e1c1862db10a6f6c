from __future__ import annotations

from django.db import models
from django.db.models import Q

from environment.categories import DIMENSIONS


class Area(models.Model):
    """A place personas live in: a state (or DC), a county or a city, with census marginals."""

    class Kind(models.TextChoices):
        STATE = "state", "State"
        COUNTY = "county", "County"
        CITY = "city", "City"

    id = models.SlugField(
        primary_key=True, max_length=80, help_text="e.g. dallas_tx_city, texas_state"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=2, help_text="USPS state code, e.g. TX")
    state_name = models.CharField(max_length=60)
    fips = models.CharField(
        max_length=12,
        help_text="State FIPS; state + county FIPS for a county; state + place FIPS for a city",
    )
    population = models.PositiveBigIntegerField()
    adult_population = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Residents aged 18 or over (blank where the source lacks it)",
    )
    citizens_voting_age = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Citizens aged 18 or over (CVAP; blank where the source lacks it)",
    )
    county_fips = models.CharField(
        max_length=5, blank=True, help_text="A city's primary county; a county's own FIPS"
    )
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
            ),
            models.CheckConstraint(
                condition=Q(citizens_voting_age__lte=models.F("population")),
                name="area_cvap_within_population",
            ),
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


class ElectionResult(models.Model):
    """An area's presidential result in one year: shares of all votes cast, with provenance."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="election_results")
    year = models.PositiveSmallIntegerField()
    dem_share = models.FloatField(help_text="Democratic votes / all presidential votes cast")
    gop_share = models.FloatField(help_text="Republican votes / all presidential votes cast")
    total_votes = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="All presidential votes cast (blank where not carried)"
    )
    method = models.CharField(max_length=300, help_text="How the shares were computed")
    geography = models.CharField(
        max_length=120,
        blank=True,
        help_text="Where the figure was measured when it is not the area itself (a city's county)",
    )
    source = models.CharField(max_length=300)

    class Meta:
        ordering = ["area", "year"]
        constraints = [
            models.UniqueConstraint(fields=["area", "year"], name="election_unique_area_year"),
            models.CheckConstraint(
                condition=Q(dem_share__gte=0)
                & Q(gop_share__gte=0)
                # Shares of the same total; the tolerance absorbs float rounding only.
                & Q(dem_share__lte=1.000001 - models.F("gop_share")),
                name="election_shares_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.year}: D {self.dem_share:.3f} / R {self.gop_share:.3f}"


class EconomicIndicator(models.Model):
    """One economic figure of an area in one year (ACS period end), with provenance."""

    class Indicator(models.TextChoices):
        UNEMPLOYMENT_RATE = "unemployment_rate", "Unemployment rate"
        MEDIAN_HOUSEHOLD_INCOME = "median_household_income", "Median household income"

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="economic_indicators")
    indicator = models.CharField(max_length=40, choices=Indicator.choices)
    year = models.PositiveSmallIntegerField(
        help_text="Survey year, or last year of a 5-year period"
    )
    value = models.FloatField()
    unit = models.CharField(max_length=40, help_text="e.g. 'percent of labour force', 'USD'")
    geography = models.CharField(
        max_length=120,
        blank=True,
        help_text="Where the figure was measured when it is not the area itself (a city's county)",
    )
    source = models.CharField(max_length=300)

    class Meta:
        ordering = ["area", "indicator", "year"]
        constraints = [
            models.UniqueConstraint(
                fields=["area", "indicator", "year"], name="indicator_unique_area_year"
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="indicator_value_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.indicator} {self.year}: {self.value}"


class DataGap(models.Model):
    """A figure the context cannot give for an area, and why (decided when the files are loaded)."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="data_gaps")
    figure = models.CharField(max_length=60, help_text="e.g. 'election_2024', 'age_distribution'")
    reason = models.CharField(max_length=400)

    class Meta:
        ordering = ["area", "figure"]
        constraints = [
            models.UniqueConstraint(fields=["area", "figure"], name="gap_unique_area_figure")
        ]

    def __str__(self) -> str:
        return f"{self.area_id}: no {self.figure}"
