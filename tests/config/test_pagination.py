from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("limit", [201, 10_000_000])
def test_a_huge_limit_is_capped_at_200_per_page(api, limit):
    response = api.get("/api/v1/areas/", {"limit": limit})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] > 3000
    assert len(body["results"]) == 200
    assert "limit=200" in body["next"]


def test_a_limit_below_the_cap_is_honoured_and_the_default_is_50(api):
    assert len(api.get("/api/v1/areas/", {"limit": 120}).json()["results"]) == 120
    assert len(api.get("/api/v1/areas/").json()["results"]) == 50


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("offset=abc", "offset"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("limit=5&limit=6", "limit"),
        ("offset=", "offset"),
    ],
)
def test_a_limit_or_offset_that_is_not_a_whole_number_is_refused_not_ignored(api, query, name):
    """Found by the schema fuzzer: `offset=abc` used to fall back to the first page."""
    response = api.get(f"/api/v1/areas/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert name in error["fields"]
    assert "whole number" in error["message"]


def test_the_schema_documents_the_bounds_the_pagination_enforces(api):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(api_version="v1").get_schema(request=None, public=True)
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/areas/"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["minimum"] == 1
    assert parameters["offset"]["schema"]["minimum"] == 0
