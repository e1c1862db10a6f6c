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


PREVIEW_ROWS = 10


def upload_check(folder: Path) -> tuple[dict, list, list[str]]:
    """Read an upload's CSV and mapping: (preview of the first rows, import plans, problems).
    Reads the whole file: in a request only for the preview; the import re-checks in its task."""
    from polls.importers import PollImportError, load_mapping_text, plans_for, read_csv_source

    preview: dict = {"columns": [], "rows": []}
    try:
        frame = read_csv_source(folder / "data.csv")
        head = frame.head(PREVIEW_ROWS)
        preview = {"columns": list(head.columns), "rows": head.values.tolist()}
        name = (folder / "mapping_name").read_text()
        mapping = load_mapping_text(
            (folder / "mapping.txt").read_text(encoding="utf-8"),
            name=name,
            json_format=name.endswith(".json"),
        )
        plans = plans_for(frame, mapping)
    except PollImportError as exc:
        return preview, [], list(exc.problems)
    except UnicodeDecodeError:
        return preview, [], ["the mapping file is not UTF-8 text"]
    return preview, plans, []
