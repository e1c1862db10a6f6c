"""Prices, the response cache and the call log. No API key is ever stored here."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from llm.types import Provider


class ModelPrice(models.Model):
    """What a provider charges for a model, per million tokens; curated by an admin from the
    provider's published price list (the source says where the figures came from)."""

    provider = models.CharField(max_length=20, choices=[(p.value, p.value) for p in Provider])
    model = models.CharField(max_length=200)
    input_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    output_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    source = models.CharField(max_length=500, blank=True, help_text="Where the prices come from.")
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model"], name="llm_price_unique_model"),
            models.CheckConstraint(
                condition=models.Q(input_per_million__gte=0, output_per_million__gte=0),
                name="llm_price_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


class CachedResponse(models.Model):
    """A provider's reply to one exact request, replayed instead of calling out again."""

    key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the request.")
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=200)
    response_text = models.TextField()
    input_tokens = models.PositiveIntegerField(null=True)
    output_tokens = models.PositiveIntegerField(null=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["provider", "model"])]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} {self.key[:12]}"


class LLMCall(models.Model):
    """One try at one model call, as an admin reads it: prompt, reply, usage, cost, outcome."""

    class Status(models.TextChoices):
        OK = "ok", "ok"
        HTTP_ERROR = "http_error", "HTTP error"
        TIMEOUT = "timeout", "timeout"
        INVALID_OUTPUT = "invalid_output", "invalid output"
        CACHE_HIT = "cache_hit", "cache hit"

    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=200)
    base_url = models.CharField(max_length=500, blank=True)
    parameters = models.JSONField(default=dict)
    messages = models.JSONField(
        default=list,
        help_text="The prompt as sent; empty on a cache hit, whose request is the one first "
        "logged under the same cache key.",
    )
    response_text = models.TextField(blank=True)
    parsed_ok = models.BooleanField(null=True, help_text="Empty for calls that got no reply.")
    status = models.CharField(max_length=20, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(null=True)
    output_tokens = models.PositiveIntegerField(null=True)
    cost = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, help_text="Empty when the price is unknown."
    )
    currency = models.CharField(max_length=3, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=1, help_text="Structured-output attempt.")
    transport_try = models.PositiveSmallIntegerField(default=1, help_text="HTTP try within it.")
    sample_index = models.PositiveIntegerField(default=0)
    cache_key = models.CharField(max_length=64, db_index=True)
    label = models.CharField(max_length=60, blank=True, help_text="The step, e.g. 'context'.")
    # Plain integers, not foreign keys: the gateway does not depend on the studies app.
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    persona_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # When the call was made, not when its buffered row was written.
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "LLM call"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cost__isnull=True) | models.Q(cost__gte=0),
                name="llm_call_cost_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} {self.status} #{self.pk}"
