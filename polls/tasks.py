"""Celery beat task: abandoned poll uploads expire (polls.uploads)."""

from __future__ import annotations

from celery import shared_task

from polls.uploads import poll_uploads_expire


@shared_task
def poll_uploads_expire_task() -> list[str]:
    return poll_uploads_expire()
