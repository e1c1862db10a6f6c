"""A run's data out through the API: the answer table (one row per persona × item) as CSV and
Parquet, the result tables as CSV, each matching what the database holds."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pyarrow.parquet as pq
import pytest

from accounts.models import AuditEvent
from personas.services import AreaWeight, population_create
from studies.models import Answer
from studies.pipeline import run_finalize, run_process_chunk
from studies.services import run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(user, study, reporter):
    """A finished offline run of 30 personas with full profiles, owned by `user`."""
    population = population_create(
        size=30,
        areas=[AreaWeight("phoenix_az_city"), AreaWeight("dallas_tx_city")],
        seed=11,
        include_behavioral_characteristics=True,
        created_by=user,
    )
    run = run_start(
        study=study, population=population, seed=3, backend="poll_cell", created_by=user
    )
    run_process_chunk(run_id=run.id, start=0, end=run.personas_total, reporter=reporter)
    return run_finalize(run_id=run.id, reporter=reporter)


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(_body(response).decode())))


def test_the_answer_table_as_csv_holds_every_answer_with_its_persona(api, finished):
    response = api.get(f"/api/v1/runs/{finished.id}/answers/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].endswith('.csv"')
    rows = _csv(response)
    answers = Answer.objects.filter(run=finished).select_related("option", "persona__area")
    assert len(rows) == answers.count() == 30
    by_persona = {int(r["persona_id"]): r for r in rows}
    for answer in answers:
        row = by_persona[answer.persona_id]
        persona = answer.persona
        assert row["answer"] == answer.option.code
        assert float(row["probability"]) == pytest.approx(answer.probabilities[answer.option.code])
        assert row["reasoning"] == answer.reasoning and row["item"] == "coverage"
        assert (row["area_id"], row["area"], row["state"]) == (
            persona.area_id,
            persona.area.name,
            persona.area.state,
        )
        assert (int(row["age"]), row["sex"], row["income"]) == (
            persona.age,
            persona.sex,
            persona.income,
        )
        assert row["name"] == persona.profile["name"]
        assert row["tech_devices"] == ";".join(persona.profile["tech_devices"])
    assert [int(r["persona_index"]) for r in rows] == sorted(int(r["persona_index"]) for r in rows)


def test_the_answer_table_as_parquet_has_the_csv_rows_and_typed_columns(api, finished):
    url = f"/api/v1/runs/{finished.id}/answers/"
    table = pq.read_table(io.BytesIO(_body(api.get(url, {"format": "parquet"}))))
    assert str(table.schema.field("age").type) == "int64"
    assert str(table.schema.field("probability").type) == "double"
    from_parquet = table.to_pandas()
    from_csv = pd.read_csv(io.BytesIO(_body(api.get(url))), keep_default_na=False)
    assert list(from_parquet.columns) == list(from_csv.columns)
    assert from_parquet["persona_id"].tolist() == from_csv["persona_id"].tolist()
    assert from_parquet["answer"].tolist() == from_csv["answer"].tolist()
    assert (
        from_parquet["probability"].round(9).tolist() == from_csv["probability"].round(9).tolist()
    )


def test_the_answer_table_follows_the_accept_header(api, finished):
    response = api.get(
        f"/api/v1/runs/{finished.id}/answers/", HTTP_ACCEPT="application/vnd.apache.parquet"
    )
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    assert pq.read_table(io.BytesIO(_body(response))).num_rows == 30


def test_the_first_csv_url_still_answers_with_the_table(api, finished):
    rows = _csv(api.get(f"/api/v1/runs/{finished.id}/answers.csv"))
    assert len(rows) == 30 and "probability" in rows[0]


def test_an_anonymized_answer_table_has_pseudonyms_age_buckets_and_no_names(api, finished):
    rows = _csv(api.get(f"/api/v1/runs/{finished.id}/answers/", {"anonymized": "true"}))
    assert len(rows) == 30
    assert not {"persona_id", "persona_index", "age", "name", "first_name"} & set(rows[0])
    assert all(r["persona"].startswith("persona-") and "_" in r["age_bucket"] for r in rows)
    names = {a.persona.profile["name"] for a in Answer.objects.filter(run=finished)}
    assert not names & {value for r in rows for value in r.values()}
    assert [r["persona"] for r in rows] == sorted(r["persona"] for r in rows)
    # The same persona has the same pseudonym in the population's anonymized export.
    population = api.get(
        f"/api/v1/populations/{finished.population_id}/export/",
        {"format": "csv", "anonymized": "true"},
    )
    assert {r["name"] for r in _csv(population)} == {r["persona"] for r in rows}


def test_the_result_tables_as_csv_match_the_results(api, finished):
    response = api.get(f"/api/v1/runs/{finished.id}/results/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = _csv(response)
    item = finished.results["items"][0]
    overall = {r["option"]: r for r in rows if r["group_by"] == "all" and r["statistic"] == "share"}
    for option in item["options"]:
        row = overall[option["code"]]
        assert float(row["value"]) == pytest.approx(option["share"])
        assert float(row["ci_low"]) == pytest.approx(option["ci_low"])
        assert float(row["ci_high"]) == pytest.approx(option["ci_high"])
    dallas = [
        r
        for r in rows
        if r["group"] == "dallas_tx_city" and r["statistic"] == "count" and r["option"]
    ]
    area = next(g for g in item["breakdowns"]["area"] if g["category"] == "dallas_tx_city")
    assert {r["option"]: float(r["value"]) for r in dallas} == {
        o["code"]: o["count"] for o in area["options"]
    }
    assert {r["group_by"] for r in rows} >= {"all", "area", "sex", "age_bracket"}
    assert api.get(f"/api/v1/runs/{finished.id}/results/").json() == finished.results


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        ("runs/{run}/answers/", "csv, parquet"),
        ("runs/{run}/results/", "json, csv"),
        ("populations/{population}/export/", "json, csv, parquet"),
    ],
)
def test_an_unknown_format_is_a_400_listing_the_valid_ones(api, finished, path, valid):
    url = "/api/v1/" + path.format(run=finished.id, population=finished.population_id)
    response = api.get(url, {"format": "xlsx"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_format" and valid in error["message"]
    assert "xlsx" in error["message"] and "format" in error["fields"]


def test_each_export_records_its_format_in_the_audit_log(api, finished):
    api.get(f"/api/v1/runs/{finished.id}/answers/", {"format": "parquet", "anonymized": "1"})
    api.get(f"/api/v1/runs/{finished.id}/results/", {"format": "csv"})
    details = [
        e.detail for e in AuditEvent.objects.filter(action="export", object_id=str(finished.id))
    ]
    assert {"file": "answers.parquet", "format": "parquet", "anonymized": True} in details
    assert {"file": "results_summaries.csv", "format": "csv"} in details


def test_an_anonymized_table_takes_the_personas_name_out_of_its_reasoning(api, finished):
    answer = Answer.objects.filter(run=finished).select_related("persona").first()
    full, first = answer.persona.profile["name"], answer.persona.profile["first_name"]
    Answer.objects.filter(pk=answer.pk).update(
        reasoning=f"As {full} I oppose it; {first} has seen costs rise."
    )
    rows = _csv(api.get(f"/api/v1/runs/{finished.id}/answers/", {"anonymized": "true"}))
    text = "".join(r["reasoning"] for r in rows)
    assert full not in text and first not in text
    said = next(r for r in rows if "I oppose it" in r["reasoning"])
    assert said["reasoning"].startswith(f"As {said['persona']} I oppose it; {said['persona']} has")


def test_the_comparisons_table_has_each_groups_test_with_its_adjusted_p(api, finished):
    response = api.get(
        f"/api/v1/runs/{finished.id}/results/", {"format": "csv", "table": "comparisons"}
    )
    rows = _csv(response)
    tests = finished.results["items"][0]["comparisons"]["groups"]["tests"]
    assert len(rows) == len(tests) and {r["comparison"] for r in rows} == {"groups"}
    by_dimension = {r["dimension"]: r for r in rows}
    for test in tests:
        row = by_dimension[test["dimension"]]
        assert float(row["p_adjusted"]) == pytest.approx(test["p_adjusted"])
        assert row["significant"] == str(test["significant"])
    refused = api.get(f"/api/v1/runs/{finished.id}/results/", {"format": "csv", "table": "x"})
    assert (
        refused.status_code == 400
        and "summaries, comparisons" in refused.json()["error"]["message"]
    )
