"""Sign-in with a lockout: after ``LOGIN_FAILURE_LIMIT`` failed attempts for one username from
one address (or four times that from one address, whatever the username: password spraying), the
form is refused with 429 for ``LOGIN_LOCKOUT_SECONDS``. Counters live in the Django cache (Redis in
production, shared by every web process); a successful sign-in clears the username's counter.
While the cache is unreachable, sign-in is refused with 503 and a message to try again shortly:
without the counters there would be no lockout, and guessing would be unlimited.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpResponse

SPRAY_FACTOR = 4
CACHE_DOWN = (redis.RedisError, OSError)
logger = logging.getLogger(__name__)


def _address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


class ThrottledLoginView(LoginView):
    def _keys(self) -> tuple[str, str]:
        username = (self.request.POST.get("username") or "").strip().lower()
        address = _address(self.request)
        return f"login-fail:{address}:{username}", f"login-fail:{address}:*"

    def _locked(self) -> bool:
        user_key, address_key = self._keys()
        limit = settings.LOGIN_FAILURE_LIMIT
        return (cache.get(user_key, 0) >= limit) or (
            cache.get(address_key, 0) >= limit * SPRAY_FACTOR
        )

    def _refuse(self, message: str, status: int) -> HttpResponse:
        form = self.get_form()
        form.add_error(None, message)
        return self.render_to_response(self.get_context_data(form=form), status=status)

    def post(self, request, *args, **kwargs) -> HttpResponse:
        try:
            locked = self._locked()
        except CACHE_DOWN as exc:
            logger.error("Sign-in refused: the lockout counters are unreachable: %s", exc)
            return self._refuse(
                "Sign-in is unavailable for a moment (the server cannot check failed attempts). "
                "Try again in a minute.",
                status=503,
            )
        if locked:
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            return self._refuse(
                f"Too many failed sign-ins. Try again in {minutes} minutes, or ask an "
                "administrator to reset your password.",
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        for key in self._keys():
            cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        return super().form_invalid(form)

    def form_valid(self, form) -> HttpResponse:
        cache.delete(self._keys()[0])
        return super().form_valid(form)


class AdminThrottledLoginView(ThrottledLoginView):
    """The admin's sign-in page with the same lockout (the admin's own view has none)."""

    authentication_form = AdminAuthenticationForm
    template_name = "admin/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request))
        context.setdefault("title", "Log in")
        context.setdefault("app_path", self.request.get_full_path())
        return context
