"""Celery beat and a real worker keep the validation targets validated (PostgreSQL + Redis)."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration

RUNS = (
    "SELECT r.id, r.status, r.error_message, r.model_version, r.data_version, r.code_version, "
    "r.n_test FROM validation_validationrun r JOIN validation_validationtarget t "
    "ON t.id = r.target_id ORDER BY r.id"
)


def test_beat_validates_the_imported_target_on_a_worker_once_per_version(services_stack):
    stack = services_stack
    # Importing the poll (Stack._load_data) made its question a target.
    ((respondents, active),) = stack.sql(
        "SELECT respondents, active FROM validation_validationtarget"
    )
    assert respondents > 10_000 and active
    beat = stack.start_beat(interval_s=2)
    try:
        deadline = time.monotonic() + 240
        runs: list[tuple] = []
        while time.monotonic() < deadline:
            runs = stack.sql(RUNS)
            if runs and runs[0][1] in ("completed", "failed"):
                break
            time.sleep(1)
        assert runs, "beat queued no run:\n" + stack.log_text("beat")
        run_id, status, error, model_version, data_version, code_version, n_test = runs[0]
        assert status == "completed", error
        assert model_version.startswith("poll_model:") and len(data_version) == 32
        assert code_version and n_test > 1000
        # Several more beats with nothing changed queue nothing more.
        time.sleep(8)
        assert [r[0] for r in stack.sql(RUNS)] == [run_id]
        assert "validation_targets_revalidate_task" in stack.log_text("beat")
    finally:
        stack.stop_process(beat)
