"""Health probe for the container healthcheck and load balancers.

The web process is only useful when it can reach its database, so "healthy" means a round trip
to the default connection succeeds, not merely that the process answers HTTP.
"""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache  # a cached "ok" would hide an outage from the probe
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """`{"status": "ok", "database": "ok"}`, or 503 `{"status": "error", "database":
    "unavailable"}`. The probe is anonymous, so the cause (host, port, driver message) goes to the
    log, never into the response."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        # Any failure (refused connection, bad credentials, missing driver) must come back as
        # a 503 the probe can read, never as the generic 500 page.
        logger.warning("Health check failed: database unavailable: %s", exc)
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
