"""`/metrics`: the platform's state for Prometheus, read from the database and the broker at scrape
time, so every web process answers the same figures whichever process or worker did the work.

Exposed (Prometheus text format 0.0.4):
- `personalab_runs{status}`: runs by status (gauge);
- `personalab_runs_stale`: queued or running runs with no sign of life for RUN_STALE_SECONDS
  (`studies.selectors.run_list_stale`, what the watchdog resumes);
- `personalab_llm_calls_total{provider,model,status}`: model calls by outcome (each try, cache hits
  included, as the call log holds them);
- `personalab_llm_tokens_total{provider,model,direction}`: tokens sent (`input`) and received
  (`output`);
- `personalab_llm_cost_total{provider,model,currency}`: what the calls cost, in the price book's
  currency;
- `personalab_queue_messages{queue}`, `personalab_queue_unacked`: Celery messages waiting in the
  Redis broker and taken by a worker but not yet acknowledged (absent without Redis).

The call-log figures are totals over the rows the log still holds (the retention setting may
remove old runs' rows, so they can go down; Prometheus' `increase()` treats a drop as a reset).

Protected like the API (session, token or API key) and for staff only: the figures cover every
client's work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Sum
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from rest_framework import permissions, renderers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyScope

logger = logging.getLogger(__name__)


class PlatformCollector:
    """A custom collector: Prometheus calls `collect` on each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from self._runs()
        yield from self._llm()
        yield from self._queue()

    def _runs(self) -> Iterator[Metric]:
        from studies.models import Run
        from studies.selectors import run_list_stale

        runs = GaugeMetricFamily("personalab_runs", "Runs by status.", labels=["status"])
        counts = dict(Run.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in Run.Status.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs
        stale = run_list_stale(idle_for=timedelta(seconds=settings.RUN_STALE_SECONDS)).count()
        yield GaugeMetricFamily(
            "personalab_runs_stale",
            "Queued or running runs with no sign of life for RUN_STALE_SECONDS.",
            value=stale,
        )

    def _llm(self) -> Iterator[Metric]:
        from llm.models import LLMCall

        calls = CounterMetricFamily(
            "personalab_llm_calls",
            "Model calls by outcome.",
            labels=["provider", "model", "status"],
        )
        tokens = CounterMetricFamily(
            "personalab_llm_tokens",
            "Tokens by direction.",
            labels=["provider", "model", "direction"],
        )
        cost = CounterMetricFamily(
            "personalab_llm_cost", "Cost of model calls.", labels=["provider", "model", "currency"]
        )
        rows = (
            LLMCall.objects.values("provider", "model", "status")
            .annotate(n=Count("id"), tin=Sum("input_tokens"), tout=Sum("output_tokens"))
            .order_by()
        )
        spent: dict[tuple[str, str], tuple[int, int]] = {}
        for row in rows:
            calls.add_metric([row["provider"], row["model"], row["status"]], row["n"])
            before = spent.get((row["provider"], row["model"]), (0, 0))
            spent[(row["provider"], row["model"])] = (
                before[0] + (row["tin"] or 0),
                before[1] + (row["tout"] or 0),
            )
        for (provider, model), (tin, tout) in sorted(spent.items()):
            tokens.add_metric([provider, model, "input"], tin)
            tokens.add_metric([provider, model, "output"], tout)
        costs = (
            LLMCall.objects.exclude(cost__isnull=True)
            .exclude(currency="")
            .values("provider", "model", "currency")
            .annotate(total=Sum("cost"))
            .order_by()
        )
        for priced in costs:
            cost.add_metric(
                [priced["provider"], priced["model"], priced["currency"]],
                float(priced["total"] or 0),
            )
        yield from (calls, tokens, cost)

    def _queue(self) -> Iterator[Metric]:
        url = settings.CELERY_BROKER_URL
        if not url.startswith(("redis://", "rediss://")):
            return
        import redis

        queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
        try:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            waiting = client.llen(queue)
            unacked = client.hlen("unacked")  # kombu's Redis transport keeps taken messages here
        except redis.RedisError as exc:
            logger.warning("metrics: the broker did not answer: %s", exc)
            return
        messages = GaugeMetricFamily(
            "personalab_queue_messages", "Celery messages waiting in the broker.", labels=["queue"]
        )
        messages.add_metric([queue], waiting)
        yield messages
        yield GaugeMetricFamily(
            "personalab_queue_unacked",
            "Celery messages taken by a worker and not yet acknowledged.",
            value=unacked,
        )


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector())
    return generate_latest(registry)


class PrometheusRenderer(renderers.BaseRenderer):
    media_type = "text/plain"
    format = "prometheus"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, bytes):
            return data
        # An error (401/403): the JSON error body, as text Prometheus will show in its target page.
        return renderers.JSONRenderer().render(data)


class MetricsView(APIView):
    """Prometheus scrape target, for staff (a staff user's API key with the read scope is the
    usual scraper credential: `authorization: {credentials: pl_…}` in the scrape config)."""

    permission_classes = [permissions.IsAdminUser, ApiKeyScope]
    renderer_classes = [PrometheusRenderer]
    throttle_classes: list = []  # a scraper every 15 s should never meet the user throttle
    schema = None  # not part of the versioned API

    def get(self, request):
        return Response(exposition(), content_type=CONTENT_TYPE_LATEST)
