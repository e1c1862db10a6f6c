"""Request guards for the API that run before any view: refuse what no view can handle.

- A Host header not in ``ALLOWED_HOSTS`` -> 400. The middleware after this one would raise
  DisallowedHost, which Django answers with an HTML page, or its debug page under DEBUG, where
  no ``handler400`` is consulted.
- A NUL character in the path or query string (PostgreSQL refuses it in text; a filter such as
  ``/api/v1/areas/?state=%00`` was a 500) -> 400.
- A declared body larger than ``API_MAX_BODY_BYTES`` -> 413, before the body is read.

All in the API's JSON error shape; pages are not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, JsonResponse

from config.api import error_body, host_refusal
from config.parsers import max_body_bytes, too_large_message


class ApiRequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    @staticmethod
    def _refusal(request: HttpRequest) -> JsonResponse | None:
        bad_host = host_refusal(request)
        if bad_host is not None:
            return JsonResponse(bad_host[1], status=bad_host[0])
        query = unquote(request.META.get("QUERY_STRING", ""))
        if "\x00" in request.path or "\x00" in query:
            return JsonResponse(
                error_body(
                    "invalid",
                    "The URL contains a NUL character (%00), which no field accepts; remove it.",
                ),
                status=400,
            )
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = max_body_bytes()
        if declared > limit:
            return JsonResponse(
                error_body("request_too_large", too_large_message(limit)), status=413
            )
        return None
