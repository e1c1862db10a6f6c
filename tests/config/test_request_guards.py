"""Input no view can handle is refused before any view runs, in the API's JSON error shape."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("param", ["state", "search", "kind"])
def test_a_nul_byte_in_a_query_is_a_400_not_a_500(api, param):
    response = api.get("/api/v1/areas/", {param: "TX\x00"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "NUL" in response.json()["error"]["message"]


def test_a_nul_character_in_a_json_string_is_refused(api):
    response = api.post(
        "/api/v1/studies/",
        json.dumps({"title": "bad\u0000title", "items": []}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "NUL character" in response.json()["error"]["message"]


def test_json_nested_a_thousand_deep_is_a_400(api):
    body = "[" * 1000 + "]" * 1000
    response = api.post("/api/v1/studies/", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_request" and "nested" in error["message"]


@pytest.mark.parametrize(("depth", "refused"), [(32, False), (33, True), (40, True)])
def test_json_past_the_depth_limit_is_refused_before_the_view(api, depth, refused):
    # Far below the thousand levels where Python's own reader gives up: the parser's own check.
    inner = {"code": "q"}
    for _ in range(depth - 1):
        inner = {"x": inner}
    response = api.post("/api/v1/studies/", json.dumps(inner), content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    if refused:
        assert error["code"] == "malformed_request"
        assert "JSON is nested deeper than 32 levels; flatten the body." in error["message"]
    else:
        assert error["code"] == "invalid"  # parsed: the serializer's verdict


def test_json_within_the_depth_limit_reaches_the_view(api, settings):
    settings.API_MAX_JSON_DEPTH = 4
    response = api.post("/api/v1/studies/", {"title": "t", "items": [{"code": "q"}]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"  # the serializer's verdict, not depth


def test_a_body_over_the_limit_is_a_413_in_json(api, settings):
    settings.API_MAX_BODY_BYTES = 1000
    body = json.dumps({"title": "x" * 2000, "items": []})
    response = api.post("/api/v1/studies/", body, content_type="application/json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and "API_MAX_BODY_BYTES" in error["message"]


def test_the_parser_itself_stops_at_the_limit(settings):
    """A body sent without a Content-Length (chunked) is bounded where it is read."""
    from io import BytesIO

    from config.parsers import RequestTooLarge, SafeJSONParser

    settings.API_MAX_BODY_BYTES = 10
    with pytest.raises(RequestTooLarge):
        SafeJSONParser().parse(BytesIO(b'{"a": "0123456789"}'), parser_context={})


@pytest.mark.parametrize(
    "password", ["short1", "password123456", "12345678901234", "analyst-analyst"]
)
def test_weak_passwords_are_refused(password, django_user_model):
    user = django_user_model(username="analyst-analyst")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_strong_password_passes(django_user_model):
    validate_password("correct horse battery staple", django_user_model(username="analyst"))
