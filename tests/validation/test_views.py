from __future__ import annotations

import pytest

from tests.validation.test_accuracy_report import runs  # noqa: F401  (runs with known metrics)

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def test_the_page_needs_a_login(client):
    response = client.get("/accuracy/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_shows_every_section_with_its_numbers(browser, runs):  # noqa: F811
    html = browser.get("/accuracy/?days=30").content.decode()
    for section in ("summary", "trend", "topics", "backends", "calibration", "recommendations"):
        assert f'id="{section}"' in html
    assert "0.817" in html  # overall accuracy (0.90 + 0.60 + 0.95) / 3
    assert "0.965" in html  # environmental accuracy
    assert "0.250" in html  # relative lift 1 − 3/4
    assert "<polyline" in html and "abortion" in html and "coverage_off" in html
    assert "http" not in html.split("<main>")[1].replace("/api/v1/", "")  # nothing from a CDN


def test_a_bad_window_is_explained_and_the_default_shown(browser):
    html = browser.get("/accuracy/?days=zero").content.decode()
    assert "days:" in html and "Showing the last 30 days." in html
