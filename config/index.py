"""`/api/v1/` itself: an index of the API's resources, and the site's favicon."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, HttpRequest
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

FAVICON = Path(__file__).resolve().parent / "static" / "favicon.ico"

# (resource, URL name, what it is): the collections a client starts from; the objects in them
# link on from there (runs/<id>/results/, populations/<id>/export/, ...).
RESOURCES = (
    ("areas", "area-list", "States, cities and counties with census marginals"),
    ("polls", "poll-list", "Imported polls with their question ids"),
    ("events", "event-list", "Major events that ground personas in time"),
    ("populations", "population-create", "Your populations of personas (POST creates one)"),
    ("studies", "study-list", "Your studies (POST creates one)"),
    ("runs", "run-list", "Your runs (POST starts one); results, answers and exports per run"),
    (
        "held-runs",
        "held-run-list",
        "Your runs held for a population still being built (POST holds one); start, cancel, retry",
    ),
    ("validation", "validation-run-list", "Validation runs against held-out polls"),
    ("keys", "api-key-list", "Your API keys"),
    ("audit", "audit-list", "Your audit log"),
    ("schema", "schema", "The OpenAPI schema"),
    ("docs", "api-docs", "Swagger UI over the schema (works offline)"),
)


class ApiIndexView(APIView):
    """The API's resources with their URLs, readable without signing in (each resource still
    asks for credentials)."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        resources = {}
        for name, url_name, description in RESOURCES:
            url = request.build_absolute_uri(reverse(url_name))
            resources[name] = {"url": url, "description": description}
        return Response(
            {
                "name": "Persona Lab API",
                "version": "v1",
                "authentication": "Authorization: Token <token>, Bearer <token> or Bearer "
                "<API key>; or a signed-in session",
                "resources": resources,
            }
        )


def favicon(request: HttpRequest) -> FileResponse:
    response = FileResponse(FAVICON.open("rb"), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
