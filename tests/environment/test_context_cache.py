"""The environmental context endpoint serves a cached rendering until the reference data changes."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environment.api.serializers import EnvironmentalContextSerializer
from environment.context import environmental_context
from environment.models import DemographicMarginal, EconomicIndicator
from environment.selectors import REFERENCE_VERSION_KEY
from environment.services import reference_data_changed

pytestmark = pytest.mark.django_db

URL = "/api/v1/environmental/context/{}/"


def _fresh(area_id: str) -> dict:
    """The context computed now from the database, as the serializer shapes it."""
    return json.loads(
        json.dumps(EnvironmentalContextSerializer(environmental_context(area_id=area_id)).data)
    )


def test_a_cached_context_is_the_computed_one_and_costs_no_query(api):
    first = api.get(URL.format("dallas_tx_city"))
    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    with CaptureQueriesContext(connection) as queries:
        second = api.get(URL.format("dallas_tx_city"))
    assert second.status_code == 200
    assert second.content == first.content
    assert second.json() == _fresh("dallas_tx_city")
    # No query at all: the token's resolution is cached too (no area, marginal, election or
    # indicator query either).
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_a_context_this_process_served_needs_only_the_version_from_the_shared_cache(api):
    first = api.get(URL.format("texas_state"))
    # The shared cache loses the body (evicted); the version still names it.
    cache.delete(f"environment:context:{cache.get(REFERENCE_VERSION_KEY)}:texas_state")
    with CaptureQueriesContext(connection) as queries:
        second = api.get(URL.format("texas_state"))
    assert second.status_code == 200 and second.content == first.content
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_a_context_this_process_served_is_retired_with_the_version(api):
    """A new version (another process's loader, a lost key) is never answered with a body
    this process kept for the old one."""
    api.get(URL.format("minneapolis_mn_city"))
    DemographicMarginal.objects.filter(area_id="minneapolis_mn_city", dimension="income").update(
        share=0.125
    )
    cache.set(REFERENCE_VERSION_KEY, "set-by-another-process", timeout=None)
    fresh = api.get(URL.format("minneapolis_mn_city")).json()
    assert fresh == _fresh("minneapolis_mn_city")
    income = fresh["demographic_composition"]["income_distribution"]["shares"]
    assert set(income.values()) == {0.125}


def test_a_miss_computes_the_context_in_a_bounded_number_of_queries(
    api, django_assert_max_num_queries
):
    with django_assert_max_num_queries(
        8
    ):  # the token, the area with its four kinds of rows, income
        response = api.get(URL.format("wayne_mi_county"))
    assert response.status_code == 200
    assert response.json()["area_id"] == "wayne_mi_county"


def test_a_saved_marginal_retires_the_cached_context(api, django_capture_on_commit_callbacks):
    before = api.get(URL.format("phoenix_az_city")).json()
    marginal = DemographicMarginal.objects.get(
        area_id="phoenix_az_city", dimension="race_ethnicity", category="asian"
    )
    old_share = marginal.share
    marginal.share = round(old_share + 0.01, 6)
    with django_capture_on_commit_callbacks(execute=True):
        marginal.save()
    after = api.get(URL.format("phoenix_az_city")).json()
    shares = "demographic_composition", "racial_composition", "shares"
    assert before[shares[0]][shares[1]][shares[2]]["asian"] == old_share
    assert after[shares[0]][shares[1]][shares[2]]["asian"] == marginal.share
    assert after == _fresh("phoenix_az_city")


def test_a_deleted_election_result_retires_the_cached_context(
    api, django_capture_on_commit_callbacks
):
    before = api.get(URL.format("detroit_mi_city")).json()
    years = sorted(before["political_context"]["recent_election_data"])
    assert years, "Detroit has election results in the bundled data"
    with django_capture_on_commit_callbacks(execute=True):
        from environment.models import ElectionResult

        ElectionResult.objects.get(area_id="detroit_mi_city", year=int(years[-1])).delete()
    after = api.get(URL.format("detroit_mi_city")).json()
    assert years[-1] not in after["political_context"]["recent_election_data"]
    assert after == _fresh("detroit_mi_city")


def test_a_change_to_the_state_retires_its_cities_contexts(api, django_capture_on_commit_callbacks):
    """A city's context compares its income with its state's: another area's row matters too."""
    before = api.get(URL.format("dallas_tx_city")).json()
    state_income = (
        EconomicIndicator.objects.filter(area_id="texas_state", indicator="median_household_income")
        .order_by("-year")
        .first()
    )
    state_income.value = state_income.value * 2
    with django_capture_on_commit_callbacks(execute=True):
        state_income.save()
    after = api.get(URL.format("dallas_tx_city")).json()
    ratio = "social_dynamics", "economic_position", "relative_to_state"
    old = before[ratio[0]][ratio[1]][ratio[2]]
    new = after[ratio[0]][ratio[1]][ratio[2]]
    assert new["reference_value"] == state_income.value
    assert new["ratio"] == pytest.approx(old["ratio"] / 2)


def test_a_bulk_change_is_served_once_the_loader_retires_the_cache(api):
    """Bulk writes send no signals: the loader calls reference_data_changed after committing."""
    api.get(URL.format("minneapolis_mn_city"))
    DemographicMarginal.objects.filter(area_id="minneapolis_mn_city", dimension="income").update(
        share=0.125
    )
    stale = api.get(URL.format("minneapolis_mn_city")).json()
    income = "demographic_composition", "income_distribution", "shares"
    assert set(stale[income[0]][income[1]][income[2]].values()) != {0.125}
    reference_data_changed()
    fresh = api.get(URL.format("minneapolis_mn_city")).json()
    assert set(fresh[income[0]][income[1]][income[2]].values()) == {0.125}
    assert fresh == _fresh("minneapolis_mn_city")


def test_a_lost_version_is_replaced_by_a_new_one_not_an_old_one(api):
    api.get(URL.format("dallas_tx_city"))
    first = cache.get(REFERENCE_VERSION_KEY)
    cache.delete(REFERENCE_VERSION_KEY)
    api.get(URL.format("dallas_tx_city"))
    second = cache.get(REFERENCE_VERSION_KEY)
    assert first and second and first != second


def test_an_unknown_area_is_still_a_404_with_a_hint(api):
    response = api.get(URL.format("atlantis_xx_city"))
    assert response.status_code == 404
    assert "/api/v1/areas/" in response.json()["error"]["message"]


def test_the_context_needs_authentication(anonymous_api):
    api_response = anonymous_api.get(URL.format("dallas_tx_city"))
    assert api_response.status_code == 401


def test_loading_the_area_files_retires_the_cached_contexts(
    api, django_capture_on_commit_callbacks
):
    from environment.services import area_load_from_files

    api.get(URL.format("dallas_tx_city"))
    before = cache.get(REFERENCE_VERSION_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        area_load_from_files()
    assert cache.get(REFERENCE_VERSION_KEY) not in (None, before)
