"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("personalab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(weak=False)
def _trace_worker_process(**_kwargs) -> None:
    """Each pool process starts its own tracer (an exporter's thread does not survive a fork) and
    tunes its collector (`config.collector`)."""
    from config import telemetry
    from config.collector import tune_collector

    telemetry.configure()
    # The pool process has loaded the application: freeze it out of the collector's walks.
    tune_collector()
