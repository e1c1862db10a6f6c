from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command

from environment.models import DataGap, EconomicIndicator, ElectionResult

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[2] / "environment" / "data"
DEMO_CITIES = ["dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city"]


def context(api, area_id: str) -> dict:
    response = api.get(f"/api/v1/environmental/context/{area_id}/")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("area_id", DEMO_CITIES)
def test_city_context_has_real_figures_with_sources(api, area_id):
    body = context(api, area_id)
    demo = body["demographic_composition"]
    assert demo["racial_composition"]["shares"]["white"] > 0
    assert demo["median_household_income"]["value"] > 0
    assert demo["adults"]["value"] > 0 and demo["citizens_voting_age"]["value"] > 0
    assert set(body["political_context"]["recent_election_data"]) == {"2016", "2020", "2024"}
    assert body["economic_indicators"]["unemployment_rate"]["geography"].startswith(
        "primary county"
    )
    assert body["sources"] and all(s["source"] and s["year"] for s in body["sources"])


def test_detroit_median_income_is_the_places_file_figure(api):
    places = pd.read_csv(DATA / "places_acs2022_with_primary_county_lean.csv")
    expected = places.loc[places["city"] == "Detroit", "median_hh_income"].item()
    body = context(api, "detroit_mi_city")
    assert body["economic_indicators"]["median_income"]["value"] == expected == 36453


def test_wayne_county_2020_democratic_share_is_the_county_file_figure(api):
    shares = pd.read_csv(DATA / "county_pres_shares_2016_2020_2024.csv", dtype=str)
    expected = float(shares.loc[shares["county_fips"] == "26163", "dem_share_2020"].item())
    body = context(api, "wayne_mi_county")
    assert body["political_context"]["recent_election_data"]["2020"]["dem_share"] == expected


def test_city_elections_come_from_its_primary_county_and_say_so(api):
    city = context(api, "detroit_mi_city")["political_context"]["recent_election_data"]
    county = context(api, "wayne_mi_county")["political_context"]["recent_election_data"]
    assert city["2020"]["dem_share"] == pytest.approx(county["2020"]["dem_share"])
    assert "Wayne" in city["2020"]["geography"] and "primary county" in city["2020"]["method"]


def test_state_gets_state_level_results_directly(api):
    mit = pd.read_csv(DATA / "mit_1976-2020-president.csv")
    rows = mit[(mit["year"] == 2016) & (mit["state_po"] == "TX")]
    dem = rows.loc[rows["party_simplified"] == "DEMOCRAT", "candidatevotes"].sum()
    result = context(api, "texas_state")["political_context"]["recent_election_data"]["2016"]
    assert result["dem_share"] == pytest.approx(dem / rows["totalvotes"].max())
    assert result["geography"] == "" and "statewide" in result["method"]


def test_michigan_2020_matches_the_checked_figure(api):
    result = context(api, "michigan_state")["political_context"]["recent_election_data"]["2020"]
    assert round(result["dem_share"] * 100, 2) == 50.62  # shared/data/README.md


def test_texas_2020_is_rebuilt_from_counties_where_the_state_row_contradicts_its_total(api):
    result = context(api, "texas_state")["political_context"]["recent_election_data"]["2020"]
    assert result["dem_share"] + result["gop_share"] <= 1
    assert "summed from the county returns" in result["method"]


def test_state_2024_is_summed_from_the_unofficial_county_scrape(api):
    result = context(api, "texas_state")["political_context"]["recent_election_data"]["2024"]
    assert "unofficial" in result["source"] and result["total_votes"] > 0


def test_cultural_diversity_is_one_minus_sum_of_squared_race_shares(api):
    body = context(api, "phoenix_az_city")
    shares = body["demographic_composition"]["racial_composition"]["shares"].values()
    diversity = body["social_dynamics"]["cultural_diversity"]["value"]
    assert diversity == pytest.approx(1 - sum(s * s for s in shares))


@pytest.mark.parametrize("area_id", ["dallas_tx_city", "texas_state", "wayne_mi_county"])
def test_lean_direction_and_strength_follow_the_latest_shares(api, area_id):
    political = context(api, area_id)["political_context"]
    latest = political["recent_election_data"]["2024"]
    margin = (latest["dem_share"] - latest["gop_share"]) * 100
    assert political["political_lean"] == ("democratic" if margin > 0 else "republican")
    assert political["political_strength"] == pytest.approx(abs(margin))


def test_trend_is_the_change_in_margin_between_elections(api):
    political = context(api, "minneapolis_mn_city")["political_context"]
    data = political["recent_election_data"]
    assert political["trend"]["margin_change_points"] == pytest.approx(
        data["2024"]["margin_points"] - data["2016"]["margin_points"]
    )


def test_economic_position_compares_income_with_state_and_nation(api):
    body = context(api, "detroit_mi_city")
    position = body["social_dynamics"]["economic_position"]
    michigan = EconomicIndicator.objects.get(
        area_id="michigan_state", indicator="median_household_income"
    )
    assert position["relative_to_state"]["ratio"] == pytest.approx(36453 / michigan.value)
    assert position["relative_to_nation"]["reference_value"] > 0
    assert position["relative_to_state"]["same_year"] is False  # 2022 city vs 2018 state


def test_county_has_an_economic_trend_between_two_acs_periods(api):
    trend = context(api, "wayne_mi_county")["economic_indicators"]["economic_trend"]
    assert (trend["unemployment_rate"]["from_year"], trend["unemployment_rate"]["to_year"]) == (
        2016,
        2017,
    )


def test_unsupported_figures_are_listed_with_reasons(api):
    body = context(api, "texas_state")
    missing = {item["figure"]: item["reason"] for item in body["not_available"]}
    assert "social_cohesion" in missing
    assert body["economic_indicators"]["economic_trend"]["median_household_income"] is None
    assert "different surveys" in missing["economic_trend.median_household_income"]


@pytest.mark.parametrize("area_id", ["ohio_state", "wayne_mi_county", "detroit_mi_city"])
def test_context_describes_2016_to_2024_though_older_results_are_stored(api, area_id):
    assert ElectionResult.objects.filter(area_id=area_id, year__lt=2016).exists()
    political = context(api, area_id)["political_context"]
    assert set(political["recent_election_data"]) == {"2016", "2020", "2024"}
    assert political["basis"].startswith("2024 presidential margin")
    assert (political["trend"]["from_year"], political["trend"]["to_year"]) == (2016, 2024)
    assert [p["from_year"] for p in political["trend"]["by_period"]] == [2016, 2020]


def test_context_lists_only_its_own_election_years_as_unavailable(api):
    missing = {item["figure"] for item in context(api, "puerto_rico_state")["not_available"]}
    elections = {figure for figure in missing if figure.startswith("election_")}
    assert elections == {"election_2016", "election_2020", "election_2024"}


def test_alaska_city_gets_no_election_from_pseudo_fips_districts(api):
    body = context(api, "anchorage_ak_city")
    assert body["political_context"]["recent_election_data"] == {}
    missing = {item["figure"] for item in body["not_available"]}
    assert {"election_2016", "election_2020", "election_2024"} <= missing


def test_context_path_without_trailing_slash_answers(api):
    assert api.get("/api/v1/environmental/context/dallas_tx_city").status_code == 200


def test_unknown_area_context_is_a_json_404_naming_it(api):
    response = api.get("/api/v1/environmental/context/atlantis_xx_city/")
    assert response.status_code == 404
    assert "atlantis_xx_city" in response.json()["error"]["message"]


@pytest.mark.parametrize("area_id", ["dallas_tx_city", "texas_state", "wayne_mi_county"])
def test_context_query_count_is_bounded(api, django_assert_max_num_queries, area_id):
    with django_assert_max_num_queries(8):  # auth token + area + 4 prefetches + state incomes
        api.get(f"/api/v1/environmental/context/{area_id}/")


def test_area_list_filters_counties(api):
    response = api.get("/api/v1/areas/", {"kind": "county", "state": "MI", "search": "wayne"})
    assert [a["id"] for a in response.json()["results"]] == ["wayne_mi_county"]


def test_a_second_load_does_not_duplicate_elections_indicators_or_gaps():
    models = (ElectionResult, EconomicIndicator, DataGap)
    before = [m.objects.count() for m in models]
    call_command("load_areas", stdout=io.StringIO())
    assert [m.objects.count() for m in models] == before
