"""Django's own refusals of a request on an API path (a Host it does not serve, a body or form past
its limits, a path no endpoint matches) are the API's JSON errors, with DEBUG on or off; pages keep
Django's HTML."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousFileOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory

from config.urls import api_bad_request, api_forbidden
from tests.config.interpreter import child_env, run_python

pytestmark = pytest.mark.django_db

MODES = ["test", "production", "debug"]


@pytest.fixture(params=MODES)
def mode(request, settings, api) -> str:
    """The test settings as they are; production's (no DEBUG, HTTPS behind a proxy, named
    hosts); or local's DEBUG, where Django answers with its debug page and no handler400."""
    if request.param == "production":
        settings.DEBUG = False
        settings.ALLOWED_HOSTS = ["testserver"]
        settings.SECURE_SSL_REDIRECT = True
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        api.defaults["HTTP_X_FORWARDED_PROTO"] = "https"
    elif request.param == "debug":
        settings.DEBUG = True
        settings.ALLOWED_HOSTS = ["testserver"]
    return request.param


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)["error"]


def _is_html(response, status: int) -> bool:
    return response.status_code == status and response["Content-Type"].startswith("text/html")


def test_a_host_the_server_does_not_serve_is_a_json_400(api, mode, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    response = api.get("/api/v1/studies/", HTTP_HOST="evil.example")
    error = _error(response, 400)
    assert error["code"] == "invalid_host"
    assert "'evil.example'" in error["message"] and "ALLOWED_HOSTS" in error["message"]


def test_a_page_on_a_host_the_server_does_not_serve_keeps_django_s_html(client, mode, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    response = client.get("/accounts/login/", HTTP_HOST="evil.example", secure=True)
    assert _is_html(response, 400)


def test_behind_an_https_redirect_a_bad_host_is_json_too(api, settings):
    """Plain HTTP under SECURE_SSL_REDIRECT: SecurityMiddleware, before the API's guard, asks for
    the host to build the redirect; Django's handler400 answers."""
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = True
    error = _error(api.get("/api/v1/studies/", HTTP_HOST="evil.example"), 400)
    assert error["code"] == "invalid_host"


@pytest.mark.parametrize("form", ["multipart", "json"])
def test_a_3_mb_field_is_within_the_api_s_8_mib_and_reaches_the_view(api, mode, form):
    # Django's own 2.5 MB limit refused it first, as an HTML 400.
    response = api.post("/api/v1/studies/", {"title": "x" * 3_000_000, "items": []}, format=form)
    error = _error(response, 400)
    assert error["code"] == "invalid" and "title" in error["fields"]


@pytest.mark.parametrize("content_type", ["multipart", "urlencoded", "json"])
def test_a_body_past_django_s_memory_limit_is_a_json_413(api, mode, settings, content_type):
    """Django's limit follows API_MAX_BODY_BYTES, whose guard refuses a declared length first; a
    body Django still finds too large is the API's 413, not Django's HTML 400."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    title = "x" * 2000
    if content_type == "multipart":
        response = api.post("/api/v1/studies/", {"title": title}, format="multipart")
    elif content_type == "urlencoded":
        response = api.post(
            "/api/v1/studies/", f"title={title}", content_type="application/x-www-form-urlencoded"
        )
    else:
        response = api.post("/api/v1/studies/", {"title": title, "items": []}, format="json")
    error = _error(response, 413)
    assert error["code"] == "request_too_large"
    assert "1,000 bytes" in error["message"] and "API_MAX_BODY_BYTES" in error["message"]


def test_the_memory_limit_is_the_api_s_limit(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.API_MAX_BODY_BYTES


@pytest.mark.parametrize("content_type", ["multipart", "urlencoded"])
def test_a_form_of_1500_fields_is_a_json_400(api, mode, content_type):
    fields = {f"field{i}": "1" for i in range(1500)}
    if content_type == "multipart":
        response = api.post("/api/v1/studies/", fields, format="multipart")
    else:
        body = "&".join(f"{name}={value}" for name, value in fields.items())
        response = api.post(
            "/api/v1/studies/", body, content_type="application/x-www-form-urlencoded"
        )
    error = _error(response, 400)
    assert error["code"] == "too_many_fields"
    assert "1,000" in error["message"] and "JSON body" in error["message"]


def test_a_query_string_of_1500_parameters_is_a_json_400(api, mode):
    response = api.get("/api/v1/areas/?" + "&".join(f"p{i}=1" for i in range(1500)))
    assert _error(response, 400)["code"] == "too_many_fields"


def test_a_form_of_101_files_is_a_json_400(api, mode):
    files = {f"file{i}": SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(101)}
    error = _error(api.post("/api/v1/studies/", files, format="multipart"), 400)
    assert error["code"] == "too_many_files" and "100 files" in error["message"]


def test_a_page_form_of_1500_fields_keeps_django_s_html(client, mode):
    fields = {f"field{i}": "1" for i in range(1500)}
    response = client.post("/accounts/login/", fields, secure=True)
    assert _is_html(response, 400)


def test_a_missing_endpoint_is_a_json_404(api, mode):
    for path in ("/api/v1/nope/", "/api/v1/studies/999999/nope/", "/api/", "/api/v2/studies/"):
        error = _error(api.get(path), 404)
        assert error["code"] == "not_found" and path in error["message"]
    assert _error(api.delete("/api/v1/nope/"), 404)["code"] == "not_found"


def test_a_post_to_a_missing_endpoint_is_a_json_404_not_a_csrf_failure(mode):
    client = Client(enforce_csrf_checks=True, HTTP_X_FORWARDED_PROTO="https")
    error = _error(client.post("/api/v1/nope/", {"a": 1}), 404)
    assert error["code"] == "not_found"


def test_a_read_without_the_trailing_slash_is_still_redirected(api, mode):
    response = api.get("/api/v1/studies?limit=5")
    assert response.status_code == 301 and response["Location"] == "/api/v1/studies/?limit=5"


def test_a_write_without_the_trailing_slash_is_told_the_endpoint(api, mode):
    response = api.post("/api/v1/studies", {"title": "t", "items": []}, format="json")
    error = _error(response, 404)
    assert "/api/v1/studies/ (with the trailing slash)" in error["message"]


def test_a_page_not_found_keeps_django_s_html(client, mode):
    assert _is_html(client.get("/nope/", secure=True), 404)


def test_handler400_answers_json_on_api_paths_and_html_on_pages(settings):
    settings.DEBUG = False
    factory = RequestFactory()
    exception = SuspiciousFileOperation("Detected path traversal at /srv/secret")
    response = api_bad_request(factory.get("/api/v1/polls/"), exception)
    error = _error(response, 400)
    assert error["code"] == "bad_request" and "SuspiciousFileOperation" in error["message"]
    assert "/srv/secret" not in error["message"]
    assert _is_html(api_bad_request(factory.get("/populations/"), exception), 400)


def test_handler403_answers_json_on_api_paths_and_html_on_pages():
    factory = RequestFactory()
    error = _error(api_forbidden(factory.get("/api/v1/polls/"), PermissionDenied()), 403)
    assert error["code"] == "permission_denied" and "permission" in error["message"]
    assert _is_html(api_forbidden(factory.get("/populations/"), PermissionDenied()), 403)


_REQUESTS = """
import json, sys, django
django.setup()
from django.test import Client
client = Client(HTTP_X_FORWARDED_PROTO="https")
answers = {}
for name, path, host in json.loads(sys.argv[1]):
    response = client.get(path, HTTP_HOST=host)
    content_type = response["Content-Type"].split(";")[0]
    code = response.json()["error"]["code"] if content_type == "application/json" else None
    answers[name] = [response.status_code, content_type, code]
print(json.dumps(answers))
"""


@pytest.mark.parametrize(
    ("module", "environment"),
    [
        ("config.settings.local", {}),
        (
            "config.settings.production",
            {
                "SECRET_KEY": secrets.token_urlsafe(50),
                "ALLOWED_HOSTS": "localhost",
                "DATABASE_URL": "postgres://personalab:pw@postgres:5432/personalab",
                "REDIS_URL": "redis://redis:6379/0",
            },
        ),
    ],
)
def test_each_settings_module_answers_api_errors_in_json_and_pages_in_html(
    tmp_path: Path, module: str, environment: dict[str, str]
) -> None:
    """Local runs with DEBUG, where Django shows its debug pages and never asks handler404 or
    handler400; production without."""
    requests = [
        ("api_bad_host", "/api/v1/studies/", "evil.example"),
        ("page_bad_host", "/accounts/login/", "evil.example"),
        ("api_missing", "/api/v1/nope/", "localhost"),
        ("api_v2_missing", "/api/v2/studies/", "localhost"),
        ("page_missing", "/nope/", "localhost"),
    ]
    result = run_python(_REQUESTS, child_env(tmp_path, module, **environment), json.dumps(requests))
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers == {
        "api_bad_host": [400, "application/json", "invalid_host"],
        "page_bad_host": [400, "text/html", None],
        "api_missing": [404, "application/json", "not_found"],
        "api_v2_missing": [404, "application/json", "not_found"],
        "page_missing": [404, "text/html", None],
    }
