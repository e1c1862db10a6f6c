"""What a new user meets first: /api/v1/ lists the resources, the docs work offline, the site has a
favicon, and the server prints each log line once."""

from __future__ import annotations

import logging
import logging.config
import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.utils.log import DEFAULT_LOGGING

pytestmark = pytest.mark.django_db


def test_the_api_root_lists_its_resources_with_working_urls(anonymous_api, api):
    response = anonymous_api.get("/api/v1/")
    assert response.status_code == 200
    resources = response.json()["resources"]
    assert {"areas", "polls", "populations", "studies", "runs", "docs", "schema"} <= set(resources)
    assert resources["runs"]["url"] == "http://testserver/api/v1/runs/"
    for name in ("areas", "polls", "populations", "studies", "runs", "held-runs", "audit"):
        assert api.get(resources[name]["url"]).status_code == 200, name


def test_the_docs_load_swagger_ui_from_this_server_not_a_cdn(api):
    page = api.get("/api/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    # No address of another host (a CDN's, or any), absolute or protocol-relative, in an attribute,
    # a string or a url(). (A bare "cdn" once turned up inside the page's random CSRF token.)
    assert not re.search(r"""["'(=]\s*(https?:)?//""", page), page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    body = b"".join(response.streaming_content)
    assert body[:4] == b"\x00\x00\x01\x00" and b"PNG" in body[:40]


@pytest.fixture
def logging_as_configured(settings_debug):
    """Django's logging set up as at start-up (its defaults, then LOGGING), restored after."""
    logging.config.dictConfig(DEFAULT_LOGGING)
    logging.config.dictConfig(settings.LOGGING)
    yield
    logging.config.dictConfig(DEFAULT_LOGGING)
    logging.config.dictConfig(settings.LOGGING)


@pytest.fixture
def settings_debug(settings):
    settings.DEBUG = True  # Django's own console handler only speaks when DEBUG is on
    return settings


def test_a_server_log_line_is_printed_once(capsys, logging_as_configured):
    # The handlers write to the stream they were built with: rebuild them on the captured one.
    logging.config.dictConfig(DEFAULT_LOGGING)
    logging.config.dictConfig(settings.LOGGING)
    logging.getLogger("django.channels.server").info("HTTP GET /api/v1/ 200")
    logging.getLogger("django.request").warning("Not Found: /nowhere")
    err = capsys.readouterr().err
    assert err.count("HTTP GET /api/v1/ 200") == 1
    assert err.count("Not Found: /nowhere") == 1
