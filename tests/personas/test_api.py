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
