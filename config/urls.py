from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, include, path, re_path, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import django_refusal, error_body
from config.health import healthz
from config.index import ApiIndexView, favicon
from config.login import AdminThrottledLoginView, ThrottledLoginView
from config.metrics import MetricsView
from validation import views as validation_views


def api_not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("not_found", f"No API endpoint at {request.path}. See /api/v1/docs/."),
            status=404,
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


@csrf_exempt  # a POST to a missing endpoint is a 404, not the CSRF failure page
def api_endpoint_missing(request):
    """Every API path no endpoint matches: a JSON 404 whatever the settings (under DEBUG Django
    answers an unmatched path with its debug page and never asks handler404).

    Matching every API path also ends Django's APPEND_SLASH redirect for them, which looks for an
    unmatched path; it is kept here for reads (``/api/v1/studies`` -> ``/api/v1/studies/``). A
    write is told the right path instead of redirected: a client follows a 301 with a GET."""
    path_info = request.path_info
    if settings.APPEND_SLASH and not path_info.endswith("/"):
        try:
            match = resolve(path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "api-endpoint-missing":
            if request.method in ("GET", "HEAD"):
                return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
            return JsonResponse(
                error_body(
                    "not_found",
                    f"No API endpoint at {request.path}; the endpoint is {request.path}/ (with "
                    "the trailing slash).",
                ),
                status=404,
            )
    return api_not_found(request)


def api_server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("server_error", "The server failed on this request; it has been logged."),
            status=500,
        )
    from django.views.defaults import server_error

    return server_error(request)


def api_bad_request(request, exception=None):
    """Django's 400 (a Host it does not serve, a body or form past its limits, raised outside a
    DRF view) in JSON on API paths."""
    if request.path.startswith("/api/"):
        refusal = django_refusal(exception, request) if exception is not None else None
        status, body = refusal or (
            400,
            error_body("bad_request", "The request is malformed; check its headers and body."),
        )
        return JsonResponse(body, status=status)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def api_forbidden(request, exception=None):
    if request.path.startswith("/api/"):
        message = str(exception or "") or "You do not have permission to perform this action."
        return JsonResponse(error_body("permission_denied", message), status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


handler400 = api_bad_request
handler403 = api_forbidden
handler404 = api_not_found
handler500 = api_server_error

api_v1 = [
    path("", ApiIndexView.as_view(), name="api-index"),
    path("", include("environment.api.urls")),
    path("", include("polls.api.urls")),
    path("", include("personas.api.urls")),
    path("", include("studies.api.urls")),
    path("", include("studies.api.held_runs.urls")),
    path("", include("studies.api.political.urls")),
    path("", include("studies.api.market.urls")),
    path("", include("studies.influence.api.urls")),
    path("", include("validation.api.urls")),
    path("", include("accounts.api.urls")),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/login/", AdminThrottledLoginView.as_view(), name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_endpoint_missing, name="api-endpoint-missing"),
    path("healthz/", healthz, name="healthz"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    path("accuracy/", validation_views.accuracy_page, name="accuracy-page"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("personas.urls")),
    path("", include("studies.urls")),
]
