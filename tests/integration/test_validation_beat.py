"""Celery beat and a real worker keep the validation targets validated (PostgreSQL + Redis)."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration

RUNS = (
    "SELECT r.id, r.status, r.error_message, r.model_version, r.data_version, r.code_version, "
    "r.n_test, p.slug FROM validation_validationrun r JOIN validation_validationtarget t "
    "ON t.id = r.target_id JOIN polls_question q ON q.id = t.question_id "
    "JOIN polls_poll p ON p.id = q.poll_id ORDER BY r.id"
)
TARGETS = (
    "SELECT t.respondents, t.active, p.slug FROM validation_validationtarget t "
    "JOIN polls_question q ON q.id = t.question_id JOIN polls_poll p ON p.id = q.poll_id"
)


def test_beat_validates_the_imported_target_on_a_worker_once_per_version(services_stack):
    stack = services_stack
    # Importing the polls (Stack._load_data) made their well-answered questions targets.
    targets = stack.sql(TARGETS)
    ((respondents, active, _),) = [t for t in targets if t[2] == "cces-2018-abortion"]
    assert respondents > 10_000 and active
    beat = stack.start_beat(interval_s=2)
    try:
        deadline = time.monotonic() + 240
        runs: list[tuple] = []
        while time.monotonic() < deadline:
            runs = stack.sql(RUNS)
            if len(runs) >= len(targets) and all(r[1] in ("completed", "failed") for r in runs):
                break
            time.sleep(0.2)
        assert runs, "beat queued no run:\n" + stack.log_text("beat")
        assert len(runs) == len(targets), runs  # one run per target
        ((_, status, error, model_version, data_version, code_version, n_test, _slug),) = [
            r for r in runs if r[7] == "cces-2018-abortion"
        ]
        assert status == "completed", error
        assert model_version.startswith("poll_model:") and len(data_version) == 32
        assert code_version and n_test > 1000
        # Several more beats with nothing changed queue nothing more.
        time.sleep(8)
        assert len(stack.sql(RUNS)) == len(targets)
        assert "validation_targets_revalidate_task" in stack.log_text("beat")
    finally:
        stack.stop_process(beat)
