from __future__ import annotations

import pytest

from personas.models import Population

pytestmark = pytest.mark.django_db


def test_population_is_created_and_described(api):
    response = api.post(
        "/api/v1/populations/",
        {
            "size": 200,
            "seed": 11,
            "areas": [{"area": "dallas_tx_city"}, {"area": "detroit_mi_city"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["size"] == 200 and body["seed"] == 11
    assert sum(a["personas"] for a in body["areas"]) == 200
    assert sum(body["composition"]["sex"].values()) == 200
    detail = api.get(f"/api/v1/populations/{body['id']}/").json()
    assert detail["composition"] == body["composition"]


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        (
            {"size": 10, "areas": [{"area": "nowhere_zz_city"}]},
            "areas",
            "Unknown area(s): nowhere_zz_city",
        ),
        ({"size": 0, "areas": [{"area": "dallas_tx_city"}]}, "size", "between 1 and"),
        ({"size": 100_001, "areas": [{"area": "dallas_tx_city"}]}, "size", "POPULATION_MAX_SIZE"),
        ({"size": 10, "areas": []}, "areas", "areas"),
        ({"areas": [{"area": "dallas_tx_city"}]}, "size", "size"),
    ],
)
def test_bad_population_input_is_a_400_naming_the_problem(api, payload, field, fragment):
    before = Population.objects.count()
    response = api.post("/api/v1/populations/", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert fragment in error["message"]
    assert field in error["fields"]
    assert Population.objects.count() == before


def test_a_population_with_constraints_reports_its_validation(api):
    response = api.post(
        "/api/v1/populations/",
        {
            "size": 1000,
            "seed": 3,
            "areas": [{"area": "dallas_tx_city"}],
            "constraints": {"age_min": 30, "age_max": 64, "income": ["lt_25k", "25_50k"]},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["constraints"] == {"age_min": 30, "age_max": 64, "income": ["lt_25k", "25_50k"]}
    assert set(body["composition"]["income"]) == {"lt_25k", "25_50k"}
    detail = api.get(f"/api/v1/populations/{body['id']}/").json()
    report = detail["validation_report"]
    assert report["overall"]["personas"] == 1000
    assert report["overall"]["max_abs_deviation_points"] <= 1.0
    income = report["overall"]["dimensions"]["income"]
    assert {r["category"] for r in income["categories"] if r["target"] > 0} == {"lt_25k", "25_50k"}
    assert "dallas_tx_city" in report["areas"]


@pytest.mark.parametrize(
    ("constraints", "field"),
    [
        ({"income": ["a_million"]}, "constraints"),
        ({"age_min": 70, "age_max": 30}, "constraints"),
        ({"religon": ["any"]}, "constraints"),
    ],
)
def test_bad_constraints_are_a_400_naming_the_problem(api, constraints, field):
    before = Population.objects.count()
    response = api.post(
        "/api/v1/populations/",
        {"size": 10, "areas": [{"area": "dallas_tx_city"}], "constraints": constraints},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert Population.objects.count() == before
