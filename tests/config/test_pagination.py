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
