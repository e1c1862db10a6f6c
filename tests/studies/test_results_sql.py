"""A run's results read its answers once: the quality report takes the results' answers frame
(with the persona's party) instead of querying the answers again, and gives the same JSON as
when it read them itself (the computation before, kept here as the reference)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from studies.analyzers import questionnaire
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


def _reference(run, monkeypatch) -> str:
    """The results as computed before: the quality report reads the answers with its own query."""
    with monkeypatch.context() as patch:
        patch.setattr(questionnaire, "FRAME_COLUMNS", FRAME_COLUMNS_BEFORE)
        patch.setattr("studies.quality.answers_frame_is_shared", lambda run: False)
        return json.dumps(run_results_compute(run=run), sort_keys=True)


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
