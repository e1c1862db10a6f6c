"""A run's results read its answers once: the quality report takes the results' answers frame
(with the persona's party) instead of querying the answers again, and gives the same JSON as
when it read them itself (the computation before, kept here as the reference).

The bulk path (issue 19) gives the same JSON too: the answers read as coded integers
(`studies.analyzers.answers`), single-choice breakdowns and group tests from option counts
(`OptionTable`), Cramér's V tables by bincount, group estimates sliced from one sort. The
reference below is the computation before all of them: the ORM read, pandas' group frames and
pivot, and the per-group loop of `group_estimates` as it was."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from personas.models import Persona
from polls.model import intervals
from polls.model.features import design
from studies import quality_stats
from studies.analyzers import answers as answers_read
from studies.analyzers import model_estimates, questionnaire
from studies.models import Condition, Item
from studies.pipeline import run_process_chunk
from studies.results import run_results_compute
from studies.services import run_start
from tests.studies.test_item_analyzers import make_item, make_run, make_study, store

pytestmark = pytest.mark.django_db

# The answers frame's columns before it carried the party for the quality report.
FRAME_COLUMNS_BEFORE = {
    k: v for k, v in questionnaire.FRAME_COLUMNS.items() if not k.startswith("persona__profile__")
}


def group_estimates_before(
    fitted,
    personas,
    *,
    dimensions,
    weights=None,
    level=0.95,
    draws=intervals.DRAWS,
    seed=0,
    factorized=None,
):
    """`polls.model.intervals.group_estimates` before issue 19: a pass over every persona and
    a sort of the group's profiles per group, each dimension factorised here (`factorized`, the
    caller's option-table codes, is not used)."""
    n = len(personas)
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    codes, profiles = intervals.distinct_profiles(intervals._as_the_model_sees(personas, fitted))
    X = design(profiles, fitted.spec)
    mode = fitted.fit.predict(X)[codes]
    sampled = fitted.fit.draws(X, count=draws, seed=seed)
    rng = np.random.default_rng(seed)
    tail = (1 - level) / 2
    out: dict[str, list[dict]] = {}
    groups = [("all", np.zeros(n, dtype=int), ["all"])]
    for dimension in dimensions:
        group_codes, group_values = pd.factorize(personas[dimension])
        groups.append((dimension, group_codes, [str(v) for v in group_values]))
    for dimension, gcodes, gvalues in groups:
        rows = []
        for g, value in enumerate(gvalues):
            index = np.flatnonzero(gcodes == g)
            w = weights[index]
            if w.sum() <= 0:
                continue
            shares = w @ mode[index] / w.sum()
            present, members = np.unique(codes[index], return_counts=True)
            mean_weight = np.bincount(codes[index], weights=w)[present] / members
            boot = rng.poisson(members, size=(draws, len(present))) * mean_weight
            totals = boot.sum(axis=1, keepdims=True)
            totals[totals == 0] = np.nan
            per_draw = np.einsum("sp,spk->sk", boot, sampled[:, present, :]) / totals
            low, high = np.nanquantile(per_draw, [tail, 1 - tail], axis=0)
            rows.append(
                {"category": value, "n": len(index), "shares": shares, "low": low, "high": high}
            )
        out[dimension] = rows
    return out


def pivot_before(groups, answers, weights):
    """The answer x group table of `quality_stats.cramers_v` before issue 19: a pandas pivot."""
    return (
        pd.DataFrame({"g": groups, "a": answers, "w": weights})
        .pivot_table(index="g", columns="a", values="w", aggfunc="sum", fill_value=0.0)
        .to_numpy(dtype=float)
    )


def _reference(run, monkeypatch) -> str:
    """The results as computed before: the quality report reads the answers with its own query,
    every read goes through the ORM, and nothing is computed from counts."""
    with monkeypatch.context() as patch:
        patch.setattr(questionnaire, "FRAME_COLUMNS", FRAME_COLUMNS_BEFORE)
        patch.setattr("studies.quality_frames.answers_frame_is_shared", lambda run: False)
        patch.setattr(questionnaire, "answers_frame_read", lambda run, columns: None)
        patch.setattr(questionnaire, "option_tables", lambda *args: None)
        patch.setattr(quality_stats, "_crosstab", pivot_before)
        patch.setattr(model_estimates, "group_estimates", group_estimates_before)
        return json.dumps(run_results_compute(run=run), sort_keys=True)


def _give_parties(population, rng) -> None:
    """Profiles with a party identification (and one profile without the field)."""
    personas = list(population.personas.order_by("index"))
    parties = rng.choice(["democrat", "republican", "independent", "other"], size=len(personas))
    for persona, party in zip(personas, parties, strict=True):
        persona.profile = {"party_identification": str(party)}
    personas[0].profile = {"occupation": "nurse"}
    Persona.objects.bulk_update(personas, ["profile"])


def test_offline_run_results_equal_the_two_query_computation(
    study, population, reporter, monkeypatch
):
    run = run_start(study=study, population=population, seed=9, backend="poll_model")
    run_process_chunk(run_id=run.id, start=0, end=240, reporter=reporter)
    run.refresh_from_db()
    reference = _reference(run, monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        now = json.dumps(run_results_compute(run=run), sort_keys=True)
    assert now == reference
    results = json.loads(now)
    assert results["personas_answered"] == 240
    assert results["quality"]["items"][0]["associations"]["sex"]["personas"]["n"] == 240
    answer_reads = [q for q in queries if 'FROM "studies_answer"' in q["sql"]]
    assert len(answer_reads) == 1, [q["sql"][:120] for q in answer_reads]


def test_results_of_several_item_types_with_weights_and_conditions_are_unchanged(
    population, monkeypatch
):
    rng = np.random.default_rng(11)
    personas = list(population.personas.order_by("index"))
    study = make_study(conditions=("control", "treated"))
    run = make_run(study, population)
    conditions = list(rng.choice(["control", "treated"], size=len(personas)))
    weights = list(rng.choice([0.0, 0.5, 1.0, 2.0], size=len(personas)))
    single = make_item(study, "support", Item.Type.SINGLE_CHOICE, ["yes", "no", "unsure"])
    store(
        run,
        single,
        personas,
        rng.choice(["yes", "no", "unsure"], size=len(personas)),
        field="option",
        conditions=conditions,
        weights=weights,
    )
    likert = make_item(
        study, "trust", Item.Type.LIKERT, ["a", "b", "c", "d", "e"], values=[1, 2, 3, 4, 5]
    )
    store(
        run,
        likert,
        personas,
        rng.choice(["a", "b", "c", "d", "e"], size=len(personas)),
        field="option",
        conditions=conditions,
    )
    numeric = make_item(study, "pay", Item.Type.NUMERIC, min_value=0, max_value=500)
    store(
        run,
        numeric,
        personas,
        [float(x) for x in rng.integers(0, 500, len(personas))],
        field="number",
        conditions=conditions,
    )
    assert Condition.objects.filter(study=study).count() == 2
    reference = _reference(run, monkeypatch)
    now = json.dumps(run_results_compute(run=run), sort_keys=True)
    assert now == reference
    codes = [i["code"] for i in json.loads(now)["quality"]["items"]]
    assert codes == ["support", "trust", "pay"]


def test_offline_run_results_read_coded_and_counted_equal_the_reference(
    study, population, reporter, monkeypatch
):
    _give_parties(population, np.random.default_rng(3))
    run = run_start(study=study, population=population, seed=4, backend="poll_model")
    run_process_chunk(run_id=run.id, start=0, end=240, reporter=reporter)
    run.refresh_from_db()
    frame = answers_read.answers_frame_read(run, questionnaire.FRAME_COLUMNS)
    assert frame is not None  # the coded read applies (so this test covers it)
    pd.testing.assert_frame_equal(frame, questionnaire.answers_frame_orm(run), check_exact=True)
    reference = _reference(run, monkeypatch)
    now = json.dumps(run_results_compute(run=run), sort_keys=True)
    assert now == reference
    party = json.loads(now)["quality"]["items"][0]["associations"]["party"]["personas"]
    assert party["n"] == 239 and party["categories"] == 4


@pytest.mark.parametrize("weighted", [False, True], ids=["unit-weights", "weights"])
def test_choice_and_likert_results_with_conditions_equal_the_reference(
    population, monkeypatch, weighted
):
    rng = np.random.default_rng(21)
    _give_parties(population, rng)
    personas = list(population.personas.order_by("index"))
    study = make_study(conditions=("control", "treated", "other"))
    run = make_run(study, population)
    conditions = list(rng.choice(["control", "treated", "other"], size=len(personas)))
    weights = list(rng.choice([0.0, 0.5, 1.0], size=len(personas))) if weighted else None
    single = make_item(study, "support", Item.Type.SINGLE_CHOICE, ["yes", "no", "unsure"])
    # "unsure" is rare, so some groups' tables fall to Fisher's test.
    chosen = rng.choice(["yes", "no", "unsure"], size=len(personas), p=[0.55, 0.43, 0.02])
    store(run, single, personas, chosen, field="option", conditions=conditions, weights=weights)
    likert = make_item(
        study, "trust", Item.Type.LIKERT, ["a", "b", "c", "d", "e"], values=[1, 2, 3, 4, 5]
    )
    points = rng.choice(["a", "b", "c", "d", "e"], size=len(personas))
    store(run, likert, personas, points, field="option", conditions=conditions)
    assert Condition.objects.filter(study=study).count() == 3
    frame = answers_read.answers_frame_read(run, questionnaire.FRAME_COLUMNS)
    assert frame is not None
    pd.testing.assert_frame_equal(frame, questionnaire.answers_frame_orm(run), check_exact=True)
    reference = _reference(run, monkeypatch)
    now = json.dumps(run_results_compute(run=run), sort_keys=True)
    assert now == reference
    support = json.loads(now)["items"][0]
    assert [g["category"] for g in support["breakdowns"]["sex"]] == ["female", "male"]
    assert {t["dimension"] for t in support["comparisons"]["groups"]["tests"]} == set(
        questionnaire.BREAKDOWN_DIMENSIONS
    )


def test_a_value_outside_the_known_lists_is_read_through_the_orm(population, monkeypatch):
    rng = np.random.default_rng(8)
    _give_parties(population, rng)
    Persona.objects.filter(id=population.personas.order_by("index")[1].id).update(
        profile={"party_identification": "green"}
    )
    personas = list(population.personas.order_by("index"))
    study = make_study()
    run = make_run(study, population)
    item = make_item(study, "support", Item.Type.SINGLE_CHOICE, ["yes", "no"])
    store(run, item, personas, rng.choice(["yes", "no"], size=len(personas)), field="option")
    assert answers_read.answers_frame_read(run, questionnaire.FRAME_COLUMNS) is None
    assert questionnaire.answers_frame(run)["party"].iloc[1] == "green"
    assert json.dumps(run_results_compute(run=run), sort_keys=True) == _reference(run, monkeypatch)


def test_a_choice_answer_with_text_is_read_through_the_orm(population):
    personas = list(population.personas.order_by("index"))
    study = make_study()
    run = make_run(study, population)
    item = make_item(study, "support", Item.Type.SINGLE_CHOICE, ["yes", "no"])
    store(run, item, personas, ["yes", "no"] * (len(personas) // 2), field="option")
    assert answers_read.answers_frame_read(run, questionnaire.FRAME_COLUMNS) is not None
    run.answers.filter(persona=personas[5]).update(text="yes, mostly")
    assert answers_read.answers_frame_read(run, questionnaire.FRAME_COLUMNS) is None
    assert questionnaire.answers_frame(run)["text"].iloc[5] == "yes, mostly"


def _single_choice_run(population, seed: int):
    rng = np.random.default_rng(seed)
    _give_parties(population, rng)
    personas = list(population.personas.order_by("index"))
    study = make_study(conditions=("control", "treated"))
    run = make_run(study, population)
    item = make_item(study, "support", Item.Type.SINGLE_CHOICE, ["yes", "no", "unsure"])
    conditions = list(rng.choice(["control", "treated"], size=len(personas)))
    chosen = rng.choice(["yes", "no", "unsure"], size=len(personas))
    store(run, item, personas, chosen, field="option", conditions=conditions)
    return run, personas


def test_answers_without_an_option_are_read_coded(population, monkeypatch):
    run, personas = _single_choice_run(population, 5)
    run.answers.filter(persona__in=personas[3:6]).update(option=None)
    frame = answers_read.answers_frame_read(run, questionnaire.FRAME_COLUMNS)
    assert frame is not None and frame["option_id"].isna().sum() == 3
    pd.testing.assert_frame_equal(frame, questionnaire.answers_frame_orm(run), check_exact=True)


def test_a_row_packed_into_more_integers_reads_the_same(population, monkeypatch):
    run, _ = _single_choice_run(population, 6)
    # Integers of 24 bits with 12 kept for the ids: the row's other digits need more of them.
    monkeypatch.setattr(answers_read, "PACKED_BITS", 24)
    monkeypatch.setattr(answers_read, "TOP_BITS", 12)
    with CaptureQueriesContext(connection) as queries:
        frame = answers_read.answers_frame_read(run, questionnaire.FRAME_COLUMNS)
    assert frame is not None
    read = next(q["sql"] for q in queries if "_packed" in q["sql"])
    assert '"_packed2"' in read  # a third integer
    pd.testing.assert_frame_equal(frame, questionnaire.answers_frame_orm(run), check_exact=True)


def test_ids_beyond_the_packed_room_are_read_through_the_orm(population, monkeypatch):
    run, _ = _single_choice_run(population, 7)
    # Room for ids below 2**4 only: the run's answers and personas have larger ones.
    monkeypatch.setattr(answers_read, "PACKED_BITS", 4 + 28)
    monkeypatch.setattr(answers_read, "TOP_BITS", 4)
    assert run.answers.order_by("-id").first().id >= 2**4
    assert answers_read.answers_frame_read(run, questionnaire.FRAME_COLUMNS) is None
    assert json.dumps(run_results_compute(run=run), sort_keys=True) == _reference(run, monkeypatch)
