"""Production: refuses to start without a secret key, allowed hosts, PostgreSQL and Redis.

Each secret may also come from a file (`SECRET_KEY_FILE`), for Docker secrets. HTTPS is assumed
(behind a proxy that sets X-Forwarded-Proto): plain HTTP is redirected and HSTS is sent, both
adjustable by environment.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASE_URL, REDIS_URL, _env_networks, env


def _required(name: str) -> str:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            with open(file_path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path} cannot be read: {exc}") from exc
    else:
        value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Production settings need it: set {name} or {name}_FILE."
        )
    return value


DEBUG = False
# No internal network is called unless the operator says so (a model server on the same host
# needs LLM_ALLOWED_NETWORKS=127.0.0.0/8).
LLM_ALLOWED_NETWORKS = _env_networks("LLM_ALLOWED_NETWORKS", [])
SECRET_KEY = _required("SECRET_KEY")
# The placeholder of .env.example, and keys too short or too repetitive to be random.
_PLACEHOLDER_WORDS = (
    "replace-me",
    "change-me",
    "changeme",
    "insecure",
    "placeholder",
    "secret-key",
)
_GENERATE = 'generate one with python -c "import secrets; print(secrets.token_urlsafe(50))".'
# A random key of 50 characters uses about 32 distinct ones (Django's alphabet of 50) and at worst
# 16 (hexadecimal, e.g. `openssl rand -hex 32`, about 4 bits a character); a key of fewer than 10
# or with an 8-character run repeated ("abcde" * 10) is a pattern, not randomness. A random key
# repeats an 8-character run with a chance under one in a million (hexadecimal, 64 characters).
_SECRET_KEY_MIN_LENGTH = 50
_SECRET_KEY_MIN_DISTINCT = 10
_SECRET_KEY_RUN = 8


def _secret_key_problem(key: str) -> str | None:
    """Why `key` is not a random secret (never quoting it), or None."""
    if any(word in key.lower() for word in _PLACEHOLDER_WORDS):
        return f"SECRET_KEY is a placeholder (it reads like the .env.example value): {_GENERATE}"
    if len(key) < _SECRET_KEY_MIN_LENGTH:
        return (
            f"SECRET_KEY is too short ({len(key)} characters): use at least "
            f"{_SECRET_KEY_MIN_LENGTH} random characters; {_GENERATE}"
        )
    if len(set(key)) < _SECRET_KEY_MIN_DISTINCT:
        return (
            f"SECRET_KEY is too repetitive: it uses {len(set(key))} distinct characters, a random "
            f"key of {_SECRET_KEY_MIN_LENGTH} uses far more (at least "
            f"{_SECRET_KEY_MIN_DISTINCT} are required); {_GENERATE}"
        )
    runs = [key[i : i + _SECRET_KEY_RUN] for i in range(len(key) - _SECRET_KEY_RUN + 1)]
    if len(set(runs)) < len(runs):
        return (
            f"SECRET_KEY is too repetitive: a run of {_SECRET_KEY_RUN} characters occurs in it "
            f"more than once, which a random key almost never does; {_GENERATE}"
        )
    return None


if (_problem := _secret_key_problem(SECRET_KEY)) is not None:
    raise ImproperlyConfigured(_problem)
ALLOWED_HOSTS = [h.strip() for h in _required("ALLOWED_HOSTS").split(",") if h.strip()]
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS lists no host: give a comma-separated list of hosts.")

# The embedded defaults (SQLite, in-process runs and channel layer) serve one process; production
# runs several web and worker processes that must share a database and a broker.
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Production needs PostgreSQL: set "
        "DATABASE_URL=postgres://user:password@host:5432/dbname (the SQLite default is for "
        "local use only)."
    )
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Production runs studies on Celery workers and relays progress "
        "over Redis: set REDIS_URL=redis://host:6379/0."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The container healthcheck probes plain http://127.0.0.1:8000/healthz/.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
# An hour by default: long enough to protect, short enough to undo a mistaken HTTPS setup.
# Raise to 31536000 (a year) once HTTPS is known to work for every host served.
try:
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600)
except ValueError as exc:
    raise ImproperlyConfigured(
        f"SECURE_HSTS_SECONDS must be a whole number of seconds (0 turns HSTS off): {exc}"
    ) from exc
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured(
        f"SECURE_HSTS_SECONDS must be 0 or more (0 turns HSTS off); got {SECURE_HSTS_SECONDS}."
    )
# Every subdomain is HTTPS too, and the site may be submitted to the browsers' preload list
# (which also needs SECURE_HSTS_SECONDS of at least a year); turn off for a shared parent domain.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
