"""Settings shared by every environment; values come from the environment via django-environ.

With no variables set at all the platform runs on the embedded default: SQLite (WAL) and no Redis,
runs execute on a background thread of the web process and progress travels over the in-memory
channel layer. `DATABASE_URL` switches to PostgreSQL (psycopg 3); `REDIS_URL` switches Celery's
broker and result backend, the channel layer and the cache to Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

# Local state: the SQLite database, static files, the demo's credentials, poll uploads. Made at
# django.setup() by config.apps, not here.
VAR_DIR = Path(env("PERSONALAB_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "config.apps.ProjectConfig",
    "accounts",
    "environment",
    "polls",
    "personas",
    "studies",
    "validation",
    "llm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ApiRequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
# Threads per web process that run HTTP requests through Django's WSGI handler (config.asgi).
# Python runs one thread at a time, so more threads than a process has requests waiting on the
# database or Redis only add switching; each thread holds at most one database connection, so
# keep it at or under DATABASE_POOL_MAX.
WEB_THREADS = env.int("WEB_THREADS", default=4)
if WEB_THREADS < 1:
    raise ImproperlyConfigured(
        f"WEB_THREADS={WEB_THREADS}: a web process needs at least 1 thread for HTTP requests."
    )
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    # 0: close after each request. Under ASGI every sync view runs on a thread of its own, and a
    # persistent connection per thread piles up until PostgreSQL refuses new ones.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
    # DATABASE_POOL=true (the web processes in docker-compose.yml): a psycopg connection pool per
    # process, so a request borrows an open connection instead of opening one (a new PostgreSQL
    # backend, several milliseconds of CPU, on every request). Off for Celery's prefork workers,
    # whose children would inherit the parent's pool across fork.
    if env.bool("DATABASE_POOL", default=False):
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
        pool_max = env.int("DATABASE_POOL_MAX", default=10)
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": pool_max,
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10),
        }
        if pool_max < WEB_THREADS:
            raise ImproperlyConfigured(
                f"WEB_THREADS={WEB_THREADS} is more than DATABASE_POOL_MAX={pool_max}: request "
                "threads would wait for a database connection. Lower WEB_THREADS or raise "
                "DATABASE_POOL_MAX."
            )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("SQLITE_PATH", default=str(VAR_DIR / "personalab.sqlite3")),
            "OPTIONS": {
                # WAL lets the background run thread write while pages read; IMMEDIATE
                # transactions take the write lock up front instead of failing on upgrade.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, result backend, channel layer, cache ----------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport, whose channels keep the broker's address after kombu closed their
    # connection: without it a worker stopped on a Redis restart (config/broker.py, issue 18).
    # The host, port, database and password still come from REDIS_URL.
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s the layer's
            # idle BZPOPMIN blocks for: every quiet socket died with "Timeout reading" (1011).
            # A read timeout above the blocking pop keeps idle sockets open and still notices a
            # dead Redis.
            #
            # Every socket's connect and disconnect takes a pooled connection for its group
            # change: with redis-py's default pool of 100, 1,000 sockets closing together failed
            # 700-810 of their group removals with "Too many connections", leaving those
            # channels in the run's group (bench/sockets.py on uvicorn; under daphne the 101st
            # concurrent connect got a 500). The pool is sized for a burst of
            # CHANNEL_LAYER_MAX_CONNECTIONS sockets per web process (1,000 measured, connecting
            # all at once and closing together, nothing failed); idle connections cost Redis
            # little (maxclients is 10,000 by default).
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=2000),
                    }
                ],
                # Messages waiting per channel: a slow socket may fall this far behind a run's
                # progress before older messages are dropped (the page re-reads the state).
                "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=200),
            },
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    RUN_EXECUTOR = env("RUN_EXECUTOR", default="celery")
else:
    # Embedded default: tasks run eagerly, on a background thread of the process that started
    # the run (see studies.dispatch); the in-memory layer reaches that same process's sockets.
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CHANNEL_LAYERS = {"default": {"BACKEND": "studies.layers.ThreadSafeInMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    RUN_EXECUTOR = env("RUN_EXECUTOR", default="thread")
# How long the hot read paths keep what they derived in the cache. An area's environmental context
# is also keyed by the reference data's version (bumped when areas, marginals, elections or
# economic figures change), and a run's results JSON by a digest of the stored results, so these
# bound memory, not staleness; except in the embedded default, whose per-process cache does not
# see a version bumped by another process (manage.py load_areas while the server runs).
ENVIRONMENT_CONTEXT_CACHE_SECONDS = env.int("ENVIRONMENT_CONTEXT_CACHE_SECONDS", default=600)
RUN_RESULTS_CACHE_SECONDS = env.int("RUN_RESULTS_CACHE_SECONDS", default=3600)
# Each web process also keeps the results JSON it served lately, up to this many bytes (least
# recently served dropped first), so a repeated request reads no body from Redis.
RUN_RESULTS_PROCESS_CACHE_BYTES = env.int("RUN_RESULTS_PROCESS_CACHE_BYTES", default=32 * 2**20)
# "caller" (studies.dispatch) is for code that works through its own run (the command line); as a
# server's setting it would leave every run started over the API waiting.
if RUN_EXECUTOR not in ("celery", "thread", "inline"):
    raise ImproperlyConfigured(
        f"RUN_EXECUTOR={RUN_EXECUTOR!r} is not an executor for the server: use celery, thread or "
        "inline."
    )

CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=15 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=20 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message a killed worker held comes back after the visibility timeout: sized to the longest a
# task may run, so a live task is never handed to a second worker. The watchdog below resumes the
# run well before that.
# Ten priority levels, one Redis list each, served in order: run chunks carry a priority from
# their owner's backlog (studies.dispatch), so one client's long queue cannot starve another's run.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 60,
    "priority_steps": list(range(10)),
    "queue_order_strategy": "priority",
}
# Publishing to a broker that is down fails within seconds, not after minutes of retries: the run
# stays queued and the watchdog dispatches it once the broker is back.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
# The same for the result store (Redis), which a chord touches when it is sent and when each chunk
# ends: a few quick retries (about 3.5 s) ride out a Redis restart; past them a request answers at
# once and a worker's chord is left to the watchdog (Celery's default waits 20 s per operation).
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {
        "max_retries": env.int("CELERY_RESULT_RETRIES", default=5),
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 1,
    }
}
# The run watchdog (studies.tasks.runs_resume_stale): a worker beats every RUN_HEARTBEAT_SECONDS
# while it holds a chunk; a run silent for RUN_STALE_SECONDS is handed to the workers again.
RUN_HEARTBEAT_SECONDS = env.float("RUN_HEARTBEAT_SECONDS", default=10)
RUN_STALE_SECONDS = env.float("RUN_STALE_SECONDS", default=60)
# Re-validate the validation targets whose model, data or code version changed (validation.targets).
CELERY_BEAT_SCHEDULE = {
    "validation-targets-revalidate": {
        "task": "validation.tasks.validation_targets_revalidate_task",
        "schedule": env.float("VALIDATION_BEAT_SECONDS", default=6 * 60 * 60),
    },
    "runs-watchdog": {
        "task": "studies.tasks.runs_watchdog_task",
        "schedule": env.float("RUN_WATCHDOG_SECONDS", default=20),
    },
    "populations-watchdog": {
        "task": "personas.tasks.populations_watchdog_task",
        "schedule": env.float("POPULATION_WATCHDOG_SECONDS", default=60),
    },
    "poll-uploads-expire": {
        "task": "polls.tasks.poll_uploads_expire_task",
        "schedule": 60 * 60,
    },
    "retention-apply": {
        "task": "accounts.tasks.retention_apply_task",
        "schedule": 24 * 60 * 60,
    },
}
# An uploaded poll file not confirmed within this time is removed (polls.uploads).
POLL_UPLOAD_TTL_SECONDS = env.int("POLL_UPLOAD_TTL_SECONDS", default=24 * 60 * 60)
# Runs finished more than RETENTION_DAYS ago are anonymised or deleted (accounts.data_rights);
# unset (the default) keeps everything.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=0) or None
RETENTION_MODE = env("RETENTION_MODE", default="anonymize")
# The deployed revision, recorded on validation runs (a change re-validates every target).
CODE_VERSION = env("CODE_VERSION", default="")

# --- domain limits ----------------------------------------------------------------------------
POPULATION_MAX_SIZE = env.int("POPULATION_MAX_SIZE", default=100_000)
# The API builds a population up to this size in the request (201); a larger one is built by a
# task (202, the population's status shows its progress).
POPULATION_INLINE_MAX = env.int("POPULATION_INLINE_MAX", default=20_000)
# A task writes a population's personas this many at a time, each batch committed with its
# progress (personas_done); a build taken up again continues after the last batch.
POPULATION_BUILD_BATCH = env.int("POPULATION_BUILD_BATCH", default=10_000)
# The population watchdog (personas.tasks.populations_watchdog_task, on Celery beat): a build with
# no progress for this long has lost its worker (no live task outlasts the time limit) and is
# handed to the workers again, at most POPULATION_BUILD_ATTEMPTS times in all, then failed.
POPULATION_STALE_SECONDS = env.float("POPULATION_STALE_SECONDS", default=CELERY_TASK_TIME_LIMIT)
POPULATION_BUILD_ATTEMPTS = env.int("POPULATION_BUILD_ATTEMPTS", default=3)
# The same watchdog starts the runs still held on a population ready for longer than this: the
# build starts them right after its commit, so one still waiting lost that process
# (studies.services.held_runs.held_runs_start_stale).
HELD_RUN_START_GRACE_SECONDS = env.float("HELD_RUN_START_GRACE_SECONDS", default=60)
RUN_CHUNK_SIZE = env.int("RUN_CHUNK_SIZE", default=250)
# Without Celery workers (the thread, inline and caller executors: the embedded default), a
# language-model run of at least RUN_LOCAL_PROCESSES_MIN_PERSONAS personas spreads its chunks over
# this many processes: the one that started it and a pool of others (studies.lanes), each with its
# share of the engine's concurrency. 1 keeps every run in its own process.
RUN_LOCAL_PROCESSES = env.int("RUN_LOCAL_PROCESSES", default=min(os.cpu_count() or 1, 4))
RUN_LOCAL_PROCESSES_MIN_PERSONAS = env.int("RUN_LOCAL_PROCESSES_MIN_PERSONAS", default=2000)
# A run queues at most this many chunk tasks, whatever chunk_size a client asks for.
RUN_MAX_CHUNKS = env.int("RUN_MAX_CHUNKS", default=200)
# Items a study may hold (each is asked of every persona).
STUDY_MAX_ITEMS = env.int("STUDY_MAX_ITEMS", default=200)
# Offline backend: widen the demographic cell until at least this many respondents remain.
POLL_CELL_MIN_RESPONDENTS = env.int("POLL_CELL_MIN_RESPONDENTS", default=30)
SHARED_DATA_DIR = Path(env("SHARED_DATA_DIR", default=str(BASE_DIR.parent / "shared" / "data")))

# --- LLM gateway (llm/) -------------------------------------------------------------------------
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


def _env_flag(name: str) -> bool:
    """A yes/no variable; anything but the usual spellings is refused rather than read as no."""
    raw = env.str(name, default="").strip().lower()
    if raw not in _TRUE | _FALSE:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a yes/no value: use 1 or 0.")
    return raw in _TRUE


def _env_limit(name: str) -> int | None:
    """A per-minute or concurrency limit: unset or 0 means unlimited."""
    raw = env.str(name, default="").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a limit: give a whole number, or 0 (or nothing) for no limit."
        )
    return value or None


def _env_rate_limits(providers: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """`LLM_<PROVIDER>_CONCURRENCY`, `_RPM`, `_TPM` as {provider: {limit: value}}, unset ones left out."""
    limits: dict[str, dict[str, int]] = {}
    for provider in providers:
        prefix = f"LLM_{provider.upper()}_"
        named = {
            "concurrency": _env_limit(prefix + "CONCURRENCY"),
            "requests_per_minute": _env_limit(prefix + "RPM"),
            "tokens_per_minute": _env_limit(prefix + "TPM"),
        }
        if any(named.values()):
            limits[provider] = {key: value for key, value in named.items() if value}
    return limits


# Answer only from the response cache; a miss raises ReplayMissError (and fails the run).
LLM_REPLAY_ONLY = _env_flag("LLM_REPLAY_ONLY")
# Per provider (llm.types.Provider values), each of concurrency, requests_per_minute and
# tokens_per_minute; a provider or limit left out is unlimited. A compatible server is limited per
# base URL (llm.ratelimit).
LLM_RATE_LIMITS = _env_rate_limits(("openai", "anthropic", "compatible"))


def _env_networks(name: str, default: list[str]) -> list[str]:
    import ipaddress

    networks = env.list(name, default=default)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {network!r} is not a network ({exc}).") from None
    return networks


# Outbound calls (llm.outbound): the hosts a run's base_url may name (exact, or *.suffix), the
# internal networks those may resolve to (public addresses always pass), and the key aliases a
# run may name, each mapped to the environment variable holding the key ("alias=VAR,alias2=VAR2").
LLM_ALLOWED_HOSTS = env.list(
    "LLM_ALLOWED_HOSTS",
    default=["api.openai.com", "api.anthropic.com", "localhost", "127.0.0.1", "::1"],
)
LLM_ALLOWED_NETWORKS = _env_networks("LLM_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
LLM_KEYS: dict[str, str] = env.dict("LLM_KEYS", default={})
# Where the limiters keep their shared state; empty means REDIS_URL, and with neither the limits
# hold within one process. Tests point it at a Redis database of their own.
LLM_RATELIMIT_REDIS_URL = ""

# --- auth, API --------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Daily quotas per user (config.throttles.daily_quota_check); staff are exempt.
QUOTA_PERSONAS_PER_DAY = env.int("QUOTA_PERSONAS_PER_DAY", default=2_000_000)
QUOTA_RUNS_PER_DAY = env.int("QUOTA_RUNS_PER_DAY", default=500)
# How long a web process keeps a token or API key it verified (accounts.services), so a client's
# burst of requests costs no Redis or database read to authenticate. The bound on revocation: a key
# revoked, a token replaced or a user deactivated stops working at once in the process that made
# the change, and in every other web process within this many seconds. 0 turns it off.
AUTH_PROCESS_CACHE_SECONDS = env.float("AUTH_PROCESS_CACHE_SECONDS", default=5)
if AUTH_PROCESS_CACHE_SECONDS < 0:
    raise ImproperlyConfigured(
        f"AUTH_PROCESS_CACHE_SECONDS={AUTH_PROCESS_CACHE_SECONDS}: give 0 (off) or more seconds."
    )
# Sign-in: this many failures for one username from one address lock it out for the window.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)

# API request bounds (config.parsers, config.middleware): larger bodies get 413, deeper JSON 400.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=8 * 1024 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
# DRF reads every JSON and form body through Django's `request.body`, which refuses one over
# DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default): the API's limit would be Django's, below the one
# it documents. One limit for both; a body past it is the API's 413 (config.api.django_refusal).
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"


def _env_rate(name: str, default: str) -> str:
    """A request rate as DRF reads it (``1200/min``: a whole number, then s, min, hour or day);
    anything else stops the start rather than the first request."""
    raw = env.str(name, default=default).strip()
    number, _, period = raw.partition("/")
    if not number.isdigit() or not period or period[0] not in "smhd":
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a rate: give requests per period, e.g. 1200/min or 20/s."
        )
    return raw


def _rate_times(rate: str, factor: int) -> str:
    number, _, period = rate.partition("/")
    return f"{int(number) * factor}/{period}"


_API_RATE_USER = _env_rate("API_RATE_USER", "1200/min")
_API_RATE_WORK = _env_rate("API_RATE_WORK", "120/hour")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.authentication.ApiKeyScope",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttles.UserRateThrottle",
        "config.throttles.WorkRateThrottle",
    ],
    # config.throttles: sessions and tokens are counted per user ("user", "work"); a request with
    # an API key in the key's own bucket, at "<rate>:<key scope>" where set, else the rate itself,
    # and in a ceiling over all of the user's keys together ("<rate>:keys").
    "DEFAULT_THROTTLE_RATES": {
        "user": _API_RATE_USER,
        "work": _API_RATE_WORK,
        "user:read": _env_rate("API_RATE_KEY_READ", _API_RATE_USER),
        "user:run": _env_rate("API_RATE_KEY_RUN", _API_RATE_USER),
        "user:admin": _env_rate("API_RATE_KEY_ADMIN", _API_RATE_USER),
        # Five keys' worth: a leaked or busy key takes at most a fifth of its user's ceiling.
        "user:keys": _env_rate("API_RATE_KEYS", _rate_times(_API_RATE_USER, 5)),
        "work:keys": _env_rate("API_RATE_WORK_KEYS", _rate_times(_API_RATE_WORK, 5)),
    },
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.SafeJSONParser",
        "config.parsers.PlainFormParser",
        "config.parsers.PlainMultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Persona Lab API",
    "DESCRIPTION": "Populations of census-proportional personas, studies over them, runs and results.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from static files (drf-spectacular-sidecar), not a CDN: the docs work
    # with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents the errors it can give, in the one JSON error shape.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "AreaKindEnum": "environment.models.Area.Kind",
        "StudyKindEnum": "studies.models.Study.Kind",
        "RunStatusEnum": "studies.models.Run.Status",
        "RunPersonaStatusEnum": "studies.models.RunPersona.Status",
        "HeldRunStatusEnum": "studies.models.HeldRun.Status",
        "PopulationStatusEnum": "personas.models.Population.Status",
        "ItemTypeEnum": "studies.models.Item.Type",
        "StudyAssignmentEnum": "studies.models.Study.Assignment",
        "StudyDepthEnum": "studies.models.Study.Depth",
        # Two sets of backends share the field name: runs take every backend, simulations two.
        "BackendEnum": "studies.backends.registry.BACKENDS",
        "SimulationBackendEnum": "studies.influence.api.serializers.SIMULATION_BACKENDS",
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# One console handler, on the root logger. Django's default config gives the "django" logger a
# console handler of its own (when DEBUG) and lets it propagate to the root as well, so every
# server line (daphne's "django.channels.server", "Not Found: ...") was printed twice; here the
# "django" loggers keep their level and only propagate.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
