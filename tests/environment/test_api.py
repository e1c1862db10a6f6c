from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_areas_are_searchable_by_name_state_and_kind(api):
    response = api.get("/api/v1/areas/", {"search": "dallas", "state": "TX", "kind": "city"})
    assert response.status_code == 200
    assert [a["id"] for a in response.json()["results"]] == ["dallas_tx_city"]


def test_area_detail_lists_marginals_with_sources(api):
    body = api.get("/api/v1/areas/phoenix_az_city/").json()
    assert body["name"] == "Phoenix" and body["state"] == "AZ"
    dims = {m["dimension"] for m in body["marginals"]}
    assert dims == {"age_bracket", "sex", "race_ethnicity", "education", "income"}
    assert all(m["source"] for m in body["marginals"])


def test_unknown_area_is_a_json_404(api):
    response = api.get("/api/v1/areas/atlantis_xx_city/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_api_requires_authentication(anonymous_api):
    response = anonymous_api.get("/api/v1/areas/")
    assert response.status_code == 401
    assert "credentials" in response.json()["error"]["message"].lower()
