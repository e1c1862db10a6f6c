"""Abandoned poll uploads (previewed, never confirmed) are removed after their time-to-live."""

from __future__ import annotations

import os
import time

from polls.tasks import poll_uploads_expire_task
from polls.uploads import poll_uploads_expire


def test_only_uploads_older_than_the_ttl_are_removed(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.POLL_UPLOAD_TTL_SECONDS = 3600
    folder = tmp_path / "poll_uploads"
    old, fresh = folder / "a", folder / "b"
    for upload in (old, fresh):
        upload.mkdir(parents=True)
        (upload / "data.csv").write_text("x\n1\n")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert poll_uploads_expire() == ["a"]
    assert not old.exists() and (fresh / "data.csv").exists()
    # The beat task does the same; nothing is left to expire.
    assert poll_uploads_expire_task() == []


def test_no_upload_folder_is_nothing_to_do(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    assert poll_uploads_expire() == []
