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


def _weighted(*weights) -> dict:
    areas = ["dallas_tx_city", "detroit_mi_city"]
    return {
        "size": 100,
        "seed": 1,
        "areas": [{"area": a, "weight": w} for a, w in zip(areas, weights, strict=False)],
    }


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [
        ((1e308, 1e308), "less than or equal to 1000000000"),
        ((2e9, 1), "less than or equal to 1000000000"),
        ((-1, 1), "greater than or equal to 0"),
        ((0, 1), "from 1e-09 to 1000000000"),
        ((1e-12, 1), "from 1e-09 to 1000000000"),
        # JSON has no NaN or Infinity; as text they are the wrong type.
        (("NaN", 1), 'Expected a number, got a string ("NaN")'),
        (("Infinity", 1), 'Expected a number, got a string ("Infinity")'),
    ],
)
def test_an_unusable_area_weight_is_a_400_naming_it(api, weights, fragment):
    before = Population.objects.count()
    response = api.post("/api/v1/populations/", _weighted(*weights), format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert fragment in error["message"], error["message"]
    assert "areas" in error["fields"]
    assert Population.objects.count() == before


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -2.0, 0.0, 5e-324, 1e308])
def test_the_service_refuses_weights_that_are_not_finite_and_bounded(weight):
    from config.errors import DomainError
    from personas.services import AreaWeight, population_create

    areas = [AreaWeight("dallas_tx_city", weight), AreaWeight("detroit_mi_city", 1.0)]
    with pytest.raises(DomainError, match="dallas_tx_city") as raised:
        population_create(size=50, areas=areas, seed=1)
    assert "from 1e-09 to 1000000000" in raised.value.message
    assert not Population.objects.exists()
