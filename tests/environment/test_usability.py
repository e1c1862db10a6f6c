"""`/api/v1/areas/` says which areas can hold a population and why not, by the rule
`population_create` applies."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.errors import DomainError
from environment.categories import DIMENSIONS
from environment.models import Area, DemographicMarginal
from environment.selectors import area_usability
from personas.services import AreaWeight, population_create

pytestmark = pytest.mark.django_db

INCOMPLETE_CITY = "the_villages_fl_city"  # its census files lack some dimensions
NAMES = {"age_bracket": "age", "sex": "sex", "race_ethnicity": "race", "education": "education",
         "income": "income"}  # fmt: skip


def _missing(area_id: str) -> str:
    """The dimensions an area lacks, counted from its stored marginals (not by the selector)."""
    present = set(
        DemographicMarginal.objects.filter(area_id=area_id).values_list("dimension", flat=True)
    )
    missing = [NAMES[d] for d in DIMENSIONS if d not in present]
    assert missing
    return "/".join(missing)


def _all(api, query: str) -> list[dict]:
    rows, url = [], f"/api/v1/areas/?{query}"
    while url:
        page = api.get(url)
        assert page.status_code == 200, page.json()
        rows += page.json()["results"]
        url = page.json()["next"]
    return rows


def test_each_area_says_whether_it_is_usable_and_why_not(api):
    dallas = api.get("/api/v1/areas/dallas_tx_city/").json()
    assert dallas["usable"] is True and dallas["unusable_reason"] is None
    villages = api.get(f"/api/v1/areas/{INCOMPLETE_CITY}/").json()
    assert villages["usable"] is False
    assert villages["unusable_reason"].startswith(
        f"no {_missing(INCOMPLETE_CITY)} marginals for this city"
    )
    county = api.get("/api/v1/areas/?kind=county&search=Wayne").json()["results"][0]
    assert county["usable"] is False
    assert county["unusable_reason"].startswith(
        f"no {_missing(county['id'])} marginals for this county"
    )


def test_the_usable_filter_splits_the_areas(api):
    usable = _all(api, "usable=true&state=FL")
    unusable = _all(api, "usable=false&state=FL")
    everything = _all(api, "state=FL")
    assert usable and unusable
    assert all(a["usable"] for a in usable) and not any(a["usable"] for a in unusable)
    assert {a["id"] for a in usable} | {a["id"] for a in unusable} == {a["id"] for a in everything}
    assert INCOMPLETE_CITY in {a["id"] for a in unusable}
    assert all(a["unusable_reason"] for a in unusable)


def test_an_unknown_usable_value_is_refused_with_the_valid_ones(api):
    response = api.get("/api/v1/areas/?usable=maybe")
    assert response.status_code == 400
    assert "true, false" in str(response.json())


def test_the_area_list_costs_the_same_queries_for_any_page_size(api):
    def queries(size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(f"/api/v1/areas/?limit={size}&kind=county").status_code == 200
        return len(captured)

    queries(1)  # the first request resolves the token and caches it (accounts.services)
    assert queries(5) == queries(100)


def test_population_create_refuses_exactly_the_areas_the_api_calls_unusable(api, user):
    unusable = area_usability().filter(usable=False)
    # One of each kind the API calls unusable, and a usable one of each kind.
    samples = [unusable.filter(kind=k).order_by("id").first() for k in Area.Kind.values]
    for area in [a for a in samples if a is not None]:
        reported = api.get(f"/api/v1/areas/{area.id}/").json()
        with pytest.raises(DomainError) as refused:
            population_create(size=5, areas=[AreaWeight(area.id)], seed=1, created_by=user)
        assert refused.value.code == "area_incomplete"
        assert reported["unusable_reason"] in refused.value.message
    for kind in (Area.Kind.CITY, Area.Kind.STATE):
        area = area_usability().filter(usable=True, kind=kind).order_by("id").first()
        assert api.get(f"/api/v1/areas/{area.id}/").json()["usable"] is True
        assert population_create(size=5, areas=[AreaWeight(area.id)], seed=1).size == 5
