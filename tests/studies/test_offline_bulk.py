"""The offline chunk path (studies/pipeline_offline.py): answers column-wise and in bulk, the same
whatever the chunks, equal to the persona-by-persona path, with the artefacts derived on read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personas.models import Persona
from polls.model.intervals import PROFILE, _as_the_model_sees, distinct_profiles
from polls.model.store import poll_model_get
from studies.backends.poll_model import PROFILE_COLUMNS, PollModelBackend, position_uniforms
from studies.exports import persona_files
from studies.models import Answer, Item, Run, RunPersona
from studies.pipeline import run_finalize, run_process_chunk
from studies.pipeline_offline import MIN_WRITE_BATCH, WRITE_BATCH, write_batch_size
from studies.results import run_results_compute
from studies.selectors import run_persona_list
from studies.services import run_start

pytestmark = pytest.mark.django_db


def _run(study, population, reporter, chunks, *, seed=9) -> Run:
    run = run_start(study=study, population=population, seed=seed, backend="poll_model")
    for start, end in chunks:
        run_process_chunk(run_id=run.id, start=start, end=end, reporter=reporter)
    return run


def _picks(run: Run) -> list[tuple[int, str, float]]:
    return list(
        Answer.objects.filter(run=run)
        .order_by("persona__index")
        .values_list("persona__index", "option__code", "weight")
    )


def test_answers_do_not_depend_on_chunk_size_or_order(study, population, reporter):
    whole = _run(study, population, reporter, [(0, 240)])
    # Uneven chunks, last first, one of them delivered twice.
    pieces = _run(study, population, reporter, [(200, 240), (37, 200), (0, 37), (37, 200)])
    assert len(_picks(whole)) == 240
    assert _picks(whole) == _picks(pieces)
    assert RunPersona.objects.filter(run=pieces).count() == 240
    pieces.refresh_from_db()
    assert pieces.personas_done == 240


def test_a_bulk_run_answers_with_the_persona_by_persona_draws(study, population, reporter):
    run = _run(study, population, reporter, [(0, 240)])
    items = list(Item.objects.filter(study=study).select_related("poll_question__poll"))
    backend = PollModelBackend(run, items)
    stored = {
        a.persona_id: a
        for a in Answer.objects.filter(run=run).select_related("option", "persona__area")
    }
    for persona in Persona.objects.filter(population=population).select_related("area")[:60]:
        alone = backend.answer(persona=persona, item=items[0])
        bulk = stored[persona.id]
        assert alone.option_id == bulk.option_id
        assert alone.reasoning == bulk.reasoning
        assert alone.weight == bulk.weight
        assert alone.probabilities == pytest.approx(bulk.probabilities, abs=1e-12)


def test_bulk_prediction_equals_prediction_persona_by_persona(study, population):
    run = run_start(study=study, population=population, seed=3, backend="poll_model")
    items = list(Item.objects.filter(study=study).select_related("poll_question__poll"))
    backend = PollModelBackend(run, items)
    personas = list(Persona.objects.filter(population=population).select_related("area"))
    frame = pd.DataFrame(
        [[getattr(p, c, None) for c in PROFILE_COLUMNS if c != "state"] for p in personas],
        columns=[c for c in PROFILE_COLUMNS if c != "state"],
    ).assign(state=[p.area.state for p in personas], index=[p.index for p in personas])
    together = backend.answer_frame(frame, items[0])
    for i in range(len(personas)):
        one = backend.predict_frame(frame.iloc[[i]], items[0].id)  # a frame of one persona
        assert one[0][0] == pytest.approx(list(together.probabilities[i].values()), abs=1e-12)
        assert together.weights[i] == one[1][0]
    assert len(set(together.option_ids)) == 2  # both options drawn among 240 personas


def test_position_uniforms_are_keyed_by_seed_position_and_item():
    u = position_uniforms(9, np.arange(10_000), 0)
    assert ((u >= 0) & (u < 1)).all()
    assert np.array_equal(u[5000:], position_uniforms(9, np.arange(5000, 10_000), 0))
    assert abs(u.mean() - 0.5) < 0.01 and abs(np.var(u) - 1 / 12) < 0.005
    other_item, other_seed = (
        position_uniforms(9, np.arange(10_000), 1),
        position_uniforms(10, np.arange(10_000), 0),
    )
    assert abs(np.corrcoef(u, other_item)[0, 1]) < 0.05
    assert abs(np.corrcoef(u, other_seed)[0, 1]) < 0.05
    assert position_uniforms(2**63 - 1, [0], 0).shape == (1,)  # the largest run seed


def test_derived_artefacts_equal_what_the_persona_path_stored(study, population, reporter):
    run = _run(study, population, reporter, [(0, 240)])
    stored = RunPersona.objects.filter(run=run).values_list("profile", "context", "response")
    assert {(str(p), c, r) for p, c, r in stored} == {("{}", None, None)}  # nothing per persona
    items = list(
        Item.objects.filter(study=study)
        .select_related("poll_question__poll")
        .prefetch_related("options")
    )
    backend = PollModelBackend(run, items)
    records = list(run_persona_list(run_id=run.id))
    assert len(records) == 240
    for record in records[:40]:
        before = backend.answer_persona(record.persona)  # what the persona path stored
        assert record.profile == before.profile
        assert record.context == before.context
        assert record.response == before.response
    # A record read alone, without its persona loaded, and the persona's export files.
    one = RunPersona.objects.get(run=run, persona=records[0].persona_id)
    assert one.profile == records[0].profile and one.response == records[0].response
    files = persona_files(one)
    assert records[0].profile["demographics"]["name"] in files["profile.json"]
    assert "Built from the structured profile" in files["context.md"]


def test_profile_codes_equal_factorising_the_rows_as_tuples(study, population, reporter):
    """The aggregation's distinct profiles (intervals.distinct_profiles) are what factorising
    the rows as tuples (the previous computation) gave, so the results are unchanged."""
    run = _run(study, population, reporter, [(0, 240)])
    run_finalize(run_id=run.id, reporter=reporter)
    item = Item.objects.get(study=study)
    fitted = poll_model_get(
        item.poll_question, options=[o.poll_option_id for o in item.options.all()]
    )
    personas = pd.DataFrame(
        Persona.objects.filter(population=population).values_list(
            "sex", "race_ethnicity", "education", "income", "area__state", "age"
        ),
        columns=["sex", "race_ethnicity", "education", "income", "state", "age"],
    )
    personas = personas.assign(age_min=personas["age"], age_max=personas["age"])
    seen = _as_the_model_sees(personas, fitted)
    codes, profiles = distinct_profiles(seen)
    old_codes, old_uniques = pd.factorize(pd.MultiIndex.from_frame(seen))
    assert np.array_equal(codes, old_codes)
    assert (
        profiles.values.tolist() == pd.DataFrame(list(old_uniques), columns=PROFILE).values.tolist()
    )
    run.refresh_from_db()
    estimate = run.results["items"][0]["model_estimate"]
    assert estimate["options"][0]["ci_low"] < estimate["options"][0]["share"]


def test_results_equal_the_previous_computation(study, population, reporter, monkeypatch):
    run = _run(study, population, reporter, [(0, 240)])
    now = run_results_compute(run=run)

    def as_tuples(frame):  # the computation before distinct_profiles
        codes, uniques = pd.factorize(pd.MultiIndex.from_frame(frame))
        return codes, pd.DataFrame(list(uniques), columns=PROFILE)

    monkeypatch.setattr("polls.model.intervals.distinct_profiles", as_tuples)
    assert run_results_compute(run=run) == now
    assert now["personas_answered"] == 240 and now["items"][0]["model_estimate"]["breakdowns"]


def test_a_chunk_reports_its_progress_batch_by_batch(study, population, reporter):
    """A small run is one chunk: it still reports several times, so its page's bar moves."""
    assert write_batch_size(240) == MIN_WRITE_BATCH
    assert write_batch_size(4_000) == 200 and write_batch_size(10**6) == WRITE_BATCH
    _run(study, population, reporter, [(0, 240)])
    done = [kw["done"] for kind, kw in reporter.events if kind == "progress"]
    assert done == [200, 240]
