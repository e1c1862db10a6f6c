"""The schema check the API tests use to hold the analyses' responses to their OpenAPI schema
fails on an undocumented field, a wrong type and a missing field."""

from __future__ import annotations

import pytest

from tests.studies.schema_check import assert_matches_schema

QUEUED = {
    "analysis_id": 1,
    "scenario_id": "mkt_x_env_20260101_1",
    "status": "queued",
    "progress": {"personas_done": 0, "personas_total": 10, "personas_failed": 0, "fraction": 0.0},
    "run_id": 1,
    "run_page_url": "/runs/1/",
    "websocket_url": "/ws/runs/1/",
    "target_market_size": None,
    "target_market_by_area": {"dallas_tx_city": {"adults": None, "share": 0.4, "people": None}},
}


def test_a_documented_queued_market_report_passes():
    assert_matches_schema(QUEUED, "MarketAnalysisReport")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"made_up_figure": 0.42}, "'made_up_figure' was unexpected"),
        ({"target_market_size": "many"}, "'many' is not of type"),
        ({"progress": {"personas_done": 0}}, "'personas_total' is a required property"),
    ],
)
def test_an_undocumented_or_mistyped_field_fails_the_check(change, message):
    with pytest.raises(AssertionError, match=message):
        assert_matches_schema(QUEUED | change, "MarketAnalysisReport")
