"""A population's data out as a table: one row per persona, CSV or Parquet, streamed."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import pytest

from personas.models import Persona
from personas.services import AreaWeight, population_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def population(user):
    return population_create(
        size=25,
        areas=[AreaWeight("detroit_mi_city")],
        seed=4,
        include_behavioral_characteristics=True,
        created_by=user,
    )


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_population_as_csv_has_one_row_per_persona_with_its_profile(api, population):
    response = api.get(f"/api/v1/populations/{population.id}/export/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    personas = list(Persona.objects.filter(population=population).order_by("index"))
    assert [int(r["id"]) for r in rows] == [p.id for p in personas]
    for row, persona in zip(rows, personas, strict=True):
        assert (row["area"], int(row["age"]), row["education"]) == (
            persona.area_id,
            persona.age,
            persona.education,
        )
        assert row["occupation"] == persona.profile["occupation"]
        assert float(row["openness"]) == pytest.approx(persona.profile["openness"])


def test_the_population_as_parquet_matches_the_csv(api, population):
    url = f"/api/v1/populations/{population.id}/export/"
    parquet = pq.read_table(io.BytesIO(_body(api.get(url, {"format": "parquet"})))).to_pylist()
    rows = list(csv.DictReader(io.StringIO(_body(api.get(url, {"format": "csv"})).decode())))
    assert len(parquet) == len(rows) == 25
    assert [(p["id"], p["name"], p["age"]) for p in parquet] == [
        (int(r["id"]), r["name"], int(r["age"])) for r in rows
    ]


def test_the_older_file_format_parameter_still_works(api, population):
    url = f"/api/v1/populations/{population.id}/export/"
    assert api.get(url, {"file_format": "csv"})["Content-Type"] == "text/csv"
    refused = api.get(url, {"file_format": "xml"})
    assert refused.status_code == 400 and "json, csv, parquet" in refused.json()["error"]["message"]
