"""pytest settings: SQLite unless DATABASE_URL says otherwise; runs execute inline."""

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Run tasks inline in the calling thread so a test sees the finished run when start returns.
RUN_EXECUTOR = env("RUN_EXECUTOR", default="inline")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The SQLite test database is a file, not shared-cache memory: the LLM gateway and the run
# pipeline write from worker threads, and an in-memory database fails concurrent writers at once
# ("database table is locked") where a WAL file waits for the busy timeout, as in production.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
