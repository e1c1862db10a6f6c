from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from personas.services import AreaWeight, population_create
from studies.backends.poll_cell import PollCellBackend
from studies.models import Answer, Run
from studies.pipeline import run_finalize, run_process_chunk
from studies.services import run_cancel, run_start

pytestmark = pytest.mark.django_db


def _queued_run(study, population, chunk_size=60) -> Run:
    # Not dispatched: on_commit callbacks do not run inside the test transaction.
    return run_start(
        study=study, population=population, seed=9, chunk_size=chunk_size, backend="poll_cell"
    )


def test_a_redelivered_chunk_writes_no_duplicate_answers(study, population, reporter):
    run = _queued_run(study, population)
    assert run_process_chunk(run_id=run.id, start=0, end=60, reporter=reporter) == 60
    answers = list(
        Answer.objects.filter(run=run).order_by("persona_id").values_list("persona_id", "option_id")
    )
    assert run_process_chunk(run_id=run.id, start=0, end=60, reporter=reporter) == 0
    assert (
        list(
            Answer.objects.filter(run=run)
            .order_by("persona_id")
            .values_list("persona_id", "option_id")
        )
        == answers
    )
    run.refresh_from_db()
    assert run.personas_done == 60 and run.status == Run.Status.RUNNING


def test_a_chunk_resumes_where_a_killed_worker_stopped(study, population, reporter):
    run = _queued_run(study, population)
    run_process_chunk(run_id=run.id, start=0, end=30, reporter=reporter)  # the half that got stored
    assert run_process_chunk(run_id=run.id, start=0, end=60, reporter=reporter) == 30
    assert Answer.objects.filter(run=run).count() == 60


def test_the_same_seed_gives_the_same_answers(study, population, reporter):
    first, second = _queued_run(study, population), _queued_run(study, population)
    for run in (first, second):
        run_process_chunk(run_id=run.id, start=0, end=240, reporter=reporter)

    def picks(run):
        return list(
            Answer.objects.filter(run=run)
            .order_by("persona_id")
            .values_list("option__code", flat=True)
        )

    assert picks(first) == picks(second)


def test_progress_is_reported_per_batch_and_completion_at_the_end(study, population, reporter):
    run = _queued_run(study, population)
    run_process_chunk(run_id=run.id, start=0, end=240, reporter=reporter)
    run_finalize(run_id=run.id, reporter=reporter)
    kinds = [k for k, _ in reporter.events]
    assert kinds.count("progress") >= 4 and kinds[-1] == "completion"
    done = [e["done"] for k, e in reporter.events if k == "progress"]
    assert done == sorted(done) and done[-1] == 240
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED and run.results["personas_answered"] == 240


def test_a_cancelled_run_stops_between_personas_and_keeps_its_answers(
    study, population, reporter, monkeypatch
):
    run = _queued_run(study, population)
    monkeypatch.setattr("studies.pipeline.CANCEL_CHECK_SECONDS", 0)
    calls = {"n": 0}
    original = PollCellBackend.answer

    def answer_then_cancel(self, *, persona, item):
        calls["n"] += 1
        if calls["n"] == 10:
            run_cancel(run=Run.objects.get(id=run.id), reporter=reporter)
        return original(self, persona=persona, item=item)

    monkeypatch.setattr(PollCellBackend, "answer", answer_then_cancel)
    written = run_process_chunk(run_id=run.id, start=0, end=240, reporter=reporter)
    assert written == 10
    run_finalize(run_id=run.id, reporter=reporter)
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED and run.results is None
    assert Answer.objects.filter(run=run).count() == 10


def test_a_failure_is_stored_with_its_message(study, population, run_on_commit, monkeypatch):
    def broken(self, *, persona, item):
        raise RuntimeError("respondent table unreadable")

    monkeypatch.setattr(PollCellBackend, "answer", broken)
    run = run_on_commit(
        run_start, study=study, population=population, seed=1, chunk_size=80, backend="poll_cell"
    )
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    # The owner reads which personas failed and that it is internal; the cause is in the log.
    assert "could not be answered: an internal error (RuntimeError)" in run.error_message
    assert "respondent table unreadable" not in run.error_message
    assert run.finished_at is not None


def test_reasoning_names_the_poll_and_the_cell(study, population, reporter):
    run = _queued_run(study, population)
    run_process_chunk(run_id=run.id, start=0, end=20, reporter=reporter)
    answer = Answer.objects.filter(run=run).select_related("persona__area").first()
    assert "respondents of Cooperative Congressional Election Study 2018" in answer.reasoning
    assert "(weighted) answered" in answer.reasoning
    assert set(answer.probabilities) == {"support", "oppose"}
    assert sum(answer.probabilities.values()) == pytest.approx(1.0)


def test_a_rare_cell_is_widened_and_says_which_dimensions_it_ignored(study, reporter, settings):
    settings.POLL_CELL_MIN_RESPONDENTS = 5000
    population = population_create(size=5, areas=[AreaWeight("minneapolis_mn_city")], seed=2)
    run = _queued_run(study, population)
    run_process_chunk(run_id=run.id, start=0, end=5, reporter=reporter)
    for answer in Answer.objects.filter(run=run):
        assert "Cell widened to reach at least 5000 respondents by ignoring" in answer.reasoning
        count = int(answer.reasoning.split("Drawn from ")[1].split(" ")[0])
        assert count >= 5000


def test_an_interrupted_run_resumes_and_completes_without_redoing_work(
    study, population, reporter, run_on_commit
):
    run = _queued_run(study, population)
    run_process_chunk(run_id=run.id, start=0, end=100, reporter=reporter)  # then the process died
    first_answers = list(
        Answer.objects.filter(run=run).order_by("id").values_list("id", "option_id")
    )
    run_on_commit(call_command, "resume_runs", run=[run.id], stdout=StringIO())
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED and run.personas_done == 240
    assert Answer.objects.filter(run=run).count() == 240
    # The 100 answers written before the interruption are the same rows, untouched.
    assert (
        list(Answer.objects.filter(run=run).order_by("id").values_list("id", "option_id"))[:100]
        == first_answers
    )


def test_a_finished_run_cannot_be_resumed(study, population, reporter):
    run = _queued_run(study, population)
    run_cancel(run=run, reporter=reporter)
    with pytest.raises(CommandError, match="already cancelled"):
        call_command("resume_runs", run=[run.id], stdout=StringIO())


def test_a_writer_with_an_interval_writes_what_waits_once_it_has_passed(monkeypatch):
    """LLM runs write twice a second rather than a fixed number of personas at a time: nothing
    is due before the interval or with nothing waiting, and a full batch is due at once."""
    from studies import pipeline

    clock = [100.0]
    monkeypatch.setattr(pipeline.time, "monotonic", lambda: clock[0])
    writer = pipeline._ChunkWriter(run=Run(), reporter=None, batch=3, interval=0.5)
    assert not writer.due()  # nothing waiting
    writer.records = ["a"]
    assert not writer.due()  # one waiting, the interval not over
    clock[0] += 0.5
    assert writer.due()
    writer.flushed_at = clock[0]
    writer.records = ["a", "b", "c"]
    assert writer.due()  # a full batch does not wait for the interval
    fixed = pipeline._ChunkWriter(run=Run(), reporter=None, batch=3)
    fixed.records = ["a", "b"]
    clock[0] += 60
    assert not fixed.due()  # without an interval only a full batch is due
