# syntax=docker/dockerfile:1
# One image for both compose services: `web` (uvicorn, the default CMD) and `worker` (celery).
FROM python:3.11-slim

# PYTHONPATH=/app: `pip install .` also puts the packages into site-packages, but the settings
# derive BASE_DIR (templates/, var/) from the module path, and templates/ and the bundled data
# files are not package data. Daphne and Celery only put the working directory on sys.path for
# part of their startup, so without this some modules would load from site-packages instead.
# The image defaults to production settings, so a bare `docker run` refuses to start without a
# SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL instead of quietly running with
# development defaults.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    PERSONALAB_VAR_DIR=/app/var \
    DJANGO_SETTINGS_MODULE=config.settings.production

WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so that editing code does not reinstall
# numpy/scipy/pandas/statsmodels. Every dependency ships manylinux wheels: no compiler needed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# An explicit list rather than `COPY . .` keeps the local .venv, .git and var/ (the SQLite
# database and the demo admin password) out of the image even without a .dockerignore.
COPY manage.py ./
COPY config ./config
COPY environment ./environment
COPY personas ./personas
COPY polls ./polls
COPY studies ./studies
COPY validation ./validation
COPY templates ./templates
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info

# The code stays owned by root (read-only to the server); only var/ is writable by the app user.
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/var \
    && chown app:app /app/var
USER app

# Production settings refuse to import without these, so throwaway values are given to this one
# command only; they are not ENV and do not persist in the image (collectstatic connects to
# neither the database nor Redis).
RUN SECRET_KEY=collectstatic-build-time-only-key-never-used-at-runtime \
    ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://unused@localhost:5432/unused \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

EXPOSE 8000
# WEB_CONCURRENCY worker processes, one per core (see docker-compose.yml); each keeps a pool of
# database connections when DATABASE_POOL=true and answers HTTP on WEB_THREADS threads through
# Django's WSGI handler, WebSockets through Channels (config/asgi.py).
# uvicorn restarts a worker process that does not answer its health check in time (5 s by
# default): on a host whose cores are saturated a busy process missed it, was killed and dropped
# the requests it held. 30 s still replaces a hung one.
ENV WEB_CONCURRENCY=2 WEB_THREADS=4 UVICORN_TIMEOUT_WORKER_HEALTHCHECK=30
CMD ["sh", "-c", "exec uvicorn config.asgi:application --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY} --no-access-log"]
