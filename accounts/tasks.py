"""Celery beat task of the retention policy (accounts.data_rights.retention_apply)."""

from __future__ import annotations

from celery import shared_task

from accounts.data_rights import retention_apply


@shared_task
def retention_apply_task() -> dict | None:
    report = retention_apply()
    return None if report is None else report.as_dict()
