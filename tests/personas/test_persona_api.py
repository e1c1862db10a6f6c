from __future__ import annotations

import csv
import io
import json

import pytest

from personas.models import Persona, Population
from personas.profile.export import pool_from_json
from personas.profile.fields import FIELDS_BY_NAME

pytestmark = pytest.mark.django_db

AREAS = [{"area": "dallas_tx_city"}, {"area": "detroit_mi_city"}]


def _population(api, *, profile: bool, size: int = 120, seed: int = 17) -> dict:
    response = api.post(
        "/api/v1/populations/",
        {"size": size, "seed": seed, "areas": AREAS, "include_behavioral_characteristics": profile},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_personas_carry_the_full_profile_when_asked(api):
    population = _population(api, profile=True)
    assert population["include_behavioral_characteristics"] is True
    personas = Persona.objects.filter(population_id=population["id"])
    assert personas.count() == 120
    for persona in personas[:20]:
        assert persona.name and set(persona.profile) == set(FIELDS_BY_NAME)
        assert 0 <= persona.profile["openness"] <= 100
        assert persona.profile["party_identification"] in {"democrat", "independent", "republican"}


def test_the_profile_never_changes_the_demographics(api):
    plain = _population(api, profile=False)
    rich = _population(api, profile=True)
    fields = ("index", "area_id", "age", "sex", "race_ethnicity", "education", "income")

    def rows(pid):
        return list(
            Persona.objects.filter(population_id=pid).order_by("index").values_list(*fields)
        )

    assert rows(plain["id"]) == rows(rich["id"])
    assert not Persona.objects.filter(population_id=plain["id"], profile__isnull=False).exists()


def test_personas_are_listed_with_filters(api):
    population = _population(api, profile=False)
    response = api.get(
        f"/api/v1/populations/{population['id']}/personas/",
        {"sex": "female", "age_min": 30, "area": "detroit_mi_city", "limit": 200},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert results and all(
        p["sex"] == "female" and p["age"] >= 30 and p["area"] == "detroit_mi_city" for p in results
    )
    expected = Persona.objects.filter(
        population_id=population["id"], sex="female", age__gte=30, area_id="detroit_mi_city"
    ).count()
    assert response.json()["count"] == expected


def test_a_bad_filter_is_a_400_naming_it(api):
    population = _population(api, profile=False)
    response = api.get(f"/api/v1/populations/{population['id']}/personas/", {"sex": "unknown"})
    assert response.status_code == 400
    assert "sex" in response.json()["error"]["fields"]


def test_a_persona_shows_its_environmental_awareness(api):
    population = _population(api, profile=True)
    persona = Persona.objects.filter(population_id=population["id"]).first()
    body = api.get(
        f"/api/v1/personas/{persona.id}/",
        {"scenario": "A city sales tax rise", "scenario_type": "policy_support"},
    ).json()
    pressures = body["awareness"]["pressures"]
    names = set(pressures) - {"missing_inputs"}
    assert len(names) == 5
    for name in names:
        value = pressures[name]["value"]
        assert value is None or 0 <= value <= 1, name
    # The profile's party makes the political pressure derivable.
    assert any(pressures[n]["derivable"] for n in names if "politic" in n)
    assert body["awareness"]["reference_groups"]
    assert "sales tax" in body["awareness"]["prompt_context"]


def test_export_json_csv_and_anonymized(api):
    population = _population(api, profile=True, size=40)
    url = f"/api/v1/populations/{population['id']}/export/"
    rows = pool_from_json(api.get(url).content.decode())
    assert len(rows) == 40 and all("name" in r and "age" in r for r in rows)
    streamed = b"".join(api.get(url, {"file_format": "csv"}).streaming_content)
    table = list(csv.DictReader(io.StringIO(streamed.decode())))
    assert len(table) == 40 and table[0]["name"] == rows[0]["name"]
    anonymized = pool_from_json(api.get(url, {"anonymized": "true"}).content.decode())
    assert all("age" not in r and "age_bucket" in r for r in anonymized)
    assert all(r["name"].startswith("persona-") for r in anonymized)
    assert all("id" not in r and "index" not in r for r in anonymized)
    assert api.get(url, {"file_format": "xml"}).status_code == 400


def test_an_exported_pool_imports_as_the_same_personas(api):
    population = _population(api, profile=True, size=30)
    pool = json.loads(api.get(f"/api/v1/populations/{population['id']}/export/").content)
    response = api.post(
        "/api/v1/populations/import/", {"name": "Copy", "pool": pool}, format="json"
    )
    assert response.status_code == 201, response.json()
    fields = ("area_id", "age", "sex", "race_ethnicity", "education", "income", "name", "profile")
    original = list(
        Persona.objects.filter(population_id=population["id"])
        .order_by("index")
        .values_list(*fields)
    )
    copy = list(
        Persona.objects.filter(population_id=response.json()["id"])
        .order_by("index")
        .values_list(*fields)
    )
    assert copy == original


POOL_CONTEXT = {
    "life_narrative": "Moved to Phoenix for a nursing job in 2011, raised two children there, and "
    "still drives forty minutes each way to the hospital.",
    "relevant_habits": ["Listens to talk radio on the commute"],
    "attitudes_and_opinions": ["Wary of anything that raises the sales tax"],
    "pain_points": ["Summer power bills"],
    "motivations": ["Paying for the children's college"],
}


def test_a_pool_persona_keeps_its_life_context_through_import_and_export(api):
    population = _population(api, profile=True, size=5)
    pool = json.loads(api.get(f"/api/v1/populations/{population['id']}/export/").content)
    pool["personas"][0]["context"] = POOL_CONTEXT
    response = api.post("/api/v1/populations/import/", {"pool": pool}, format="json")
    assert response.status_code == 201, response.json()
    imported = Persona.objects.get(population_id=response.json()["id"], index=0)
    assert imported.profile["context"] == POOL_CONTEXT
    again = json.loads(api.get(f"/api/v1/populations/{response.json()['id']}/export/").content)
    assert again["personas"][0]["context"] == POOL_CONTEXT


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda pool: pool["personas"][1].update(area="atlantis_xx_city"), "row 1: unknown area"),
        (lambda pool: pool["personas"][2].update(sex="robot"), "sex"),
        (lambda pool: pool.update(format="something-else"), "'format' must be"),
    ],
)
def test_a_bad_pool_is_refused_and_nothing_is_written(api, mutate, fragment):
    population = _population(api, profile=False, size=10)
    pool = json.loads(api.get(f"/api/v1/populations/{population['id']}/export/").content)
    mutate(pool)
    before = Population.objects.count()
    response = api.post("/api/v1/populations/import/", {"pool": pool}, format="json")
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert Population.objects.count() == before


def _set(row: int, **values):
    return lambda pool: pool["personas"][row].update(values)


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (_set(1, area=["dallas_tx_city"]), "personas[1].area", "expected an area id string"),
        (_set(1, area=42), "personas[1].area", "expected an area id string"),
        (_set(2, sex=["female"]), "personas[2].sex", "is not one of female, male"),
        (_set(2, income={"lt_25k": 1}), "personas[2].income", "is not one of"),
        (_set(3, education=5), "personas[3].education", "is not one of"),
        (_set(3, age_bracket=["25_34"]), "personas[3].age_bracket", "is not one of"),
        (_set(4, age="34"), "personas[4].age", "is not an integer"),
        (_set(4, age=70, age_bracket="18_24"), "personas[4].age", "outside its age_bracket 18_24"),
        (_set(5, name="x" * 121), "personas[5].name", "at most 120 characters"),
        (_set(5, name=["Ann", "Lee"]), "personas[5].name", "expected a non-empty string"),
        (_set(6, state=7), "personas[6].state", "two-letter USPS code"),
        (_set(7, context={"life_narrative": "short"}), "personas[7].context", "relevant_habits"),
        (lambda pool: pool.update(anonymized="no"), "anonymized", "true or false"),
    ],
)
def test_a_pool_with_values_of_the_wrong_type_is_a_400_naming_each_field(
    api, mutate, field, fragment
):
    population = _population(api, profile=True, size=10)
    pool = json.loads(api.get(f"/api/v1/populations/{population['id']}/export/").content)
    mutate(pool)
    populations, personas = Population.objects.count(), Persona.objects.count()
    response = api.post("/api/v1/populations/import/", {"pool": pool}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_pool"
    assert fragment in error["message"], error["message"]
    assert any(fragment in problem for problem in error["fields"][field]), error["fields"]
    assert (Population.objects.count(), Persona.objects.count()) == (populations, personas)


@pytest.mark.parametrize("pool", [None, [], "text", {"format": "persona-lab/personas"}])
def test_a_pool_that_is_not_a_personas_document_is_a_400_not_a_500(api, pool):
    response = api.post("/api/v1/populations/import/", {"pool": pool}, format="json")
    assert response.status_code == 400, response.content
    assert "pool" in response.json()["error"]["message"]


def test_a_null_pool_sent_as_a_form_field_is_a_400(api):
    """Found by the schema fuzzer: multipart `pool=null` parsed to None and crashed."""
    response = api.post("/api/v1/populations/import/", {"pool": "null"}, format="multipart")
    assert response.status_code == 400, response.content
    assert "pool" in response.json()["error"]["message"]


def test_the_daily_quota_counts_the_pools_personas(api, settings):
    population = _population(api, profile=False, size=10)
    pool = json.loads(api.get(f"/api/v1/populations/{population['id']}/export/").content)
    used = Population.objects.get(id=population["id"]).size
    settings.QUOTA_PERSONAS_PER_DAY = used + 9  # room for 9 more, the pool holds 10
    response = api.post("/api/v1/populations/import/", {"pool": pool}, format="json")
    assert response.status_code == 429
    assert "10 personas" in response.json()["error"]["message"]
