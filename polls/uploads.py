"""Poll files uploaded in the admin wait in ``VAR_DIR/poll_uploads/<token>/`` between the preview
and the confirmation; one never confirmed is removed after ``POLL_UPLOAD_TTL_SECONDS`` (hourly on
Celery beat, and whenever a new file is uploaded), so abandoned uploads do not pile up."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from django.conf import settings


def upload_dir() -> Path:
    return Path(settings.VAR_DIR) / "poll_uploads"


def poll_uploads_expire(*, now: float | None = None) -> list[str]:
    """Remove the upload folders older than the time-to-live; returns their tokens."""
    folder = upload_dir()
    if not folder.is_dir():
        return []
    cutoff = (now if now is not None else time.time()) - settings.POLL_UPLOAD_TTL_SECONDS
    removed = []
    for upload in folder.iterdir():
        if upload.is_dir() and upload.stat().st_mtime < cutoff:
            shutil.rmtree(upload, ignore_errors=True)
            removed.append(upload.name)
    return sorted(removed)
