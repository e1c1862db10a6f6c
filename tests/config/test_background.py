"""Where work goes when its caller names no executor: RUN_EXECUTOR, or the executor an
`executor_for` block chose (a management command, so what it starts does not sit on a daemon
thread of a process about to exit)."""

from __future__ import annotations

import threading

import pytest

from config.background import background_dispatch, executor_default, executor_for


def test_the_block_chooses_the_executor_and_threads_started_inside_keep_the_setting(settings):
    settings.RUN_EXECUTOR = "thread"
    assert executor_default() == "thread"
    seen = []
    with executor_for("inline"):
        assert executor_default() == "inline"
        with executor_for("celery"):
            assert executor_default() == "celery"
        assert executor_default() == "inline"
        thread = threading.Thread(target=lambda: seen.append(executor_default()))
        thread.start()
        thread.join()
    assert executor_default() == "thread"
    assert seen == ["thread"]


@pytest.mark.parametrize("chosen", [None, "inline"])
def test_background_work_runs_where_the_block_says(settings, chosen):
    settings.RUN_EXECUTOR = "thread"
    ran_in = []

    def execute(job_id):
        ran_in.append((job_id, threading.current_thread() is threading.main_thread()))

    def dispatch():
        background_dispatch(
            task=None, execute=execute, job_id=7, label="Job", on_broker_down=lambda _: None
        )

    if chosen:
        with executor_for(chosen):
            dispatch()
        assert ran_in == [(7, True)]  # in the calling thread, before the block ends
    else:
        dispatch()
        for thread in threading.enumerate():
            if thread.name == "job-7":
                thread.join()
        assert ran_in == [(7, False)]  # a background thread, as RUN_EXECUTOR says
