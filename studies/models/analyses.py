"""Analyses built on a run: policy support, market (pricing and features) and influence."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from studies.models.runs import Run
from studies.models.studies import Study


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
    holds_reasoning = models.BooleanField(
        default=True,
        help_text="The responses may hold deliberation reasoning: set when a deliberation writes "
        "them, cleared once retention has emptied (or found none in) them, so its daily pass "
        "reads each simulation's responses once",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Influence simulation {self.pk} (run {self.run_id})"
