"""The admin shows political and market analyses read-only, each leading to its run."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studies.models import MarketAnalysis, PolicyAnalysis
from tests.studies.test_market_api import SEED_MARKET, _llm
from tests.studies.test_political_api import EMPLOYER_POLICY

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy_analysis(api, cces_question) -> PolicyAnalysis:
    started = api.post("/api/v1/political/analyze", EMPLOYER_POLICY, format="json")
    assert started.status_code == 202, started.json()
    return PolicyAnalysis.objects.get(pk=started.json()["analysis_id"])


@pytest.fixture
def market_analysis(api, model_server) -> MarketAnalysis:
    body = SEED_MARKET | _llm(model_server) | {"population_size": 30, "features": ["A", "B"]}
    started = api.post("/api/v1/market/analyze-environmental", body, format="json")
    assert started.status_code == 202, started.json()
    return MarketAnalysis.objects.get(pk=started.json()["analysis_id"])


@pytest.mark.parametrize(
    ("fixture", "model", "shown"),
    [
        ("policy_analysis", "policyanalysis", "Allow employers to decline abortion coverage"),
        ("market_analysis", "marketanalysis", "Smart Home Assistant"),
    ],
)
def test_an_analysis_is_listed_and_shown_read_only_with_a_link_to_its_run(
    request, admin_client, fixture, model, shown
):
    analysis = request.getfixturevalue(fixture)
    listing = admin_client.get(reverse(f"admin:studies_{model}_changelist"))
    assert listing.status_code == 200
    page = listing.content.decode()
    assert shown in page
    run_url = reverse("admin:studies_run_change", args=[analysis.run_id])
    assert f'href="{run_url}"' in page

    detail = admin_client.get(reverse(f"admin:studies_{model}_change", args=[analysis.pk]))
    page = detail.content.decode()
    assert detail.status_code == 200
    assert f'href="{run_url}"' in page and f'href="/runs/{analysis.run_id}/"' in page
    assert 'name="_save"' not in page  # read-only
    assert admin_client.get(reverse(f"admin:studies_{model}_add")).status_code == 403
