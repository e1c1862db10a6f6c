"""OpenTelemetry traces for requests, Celery tasks and model calls; off unless configured.

Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set:
spans then go over OTLP/HTTP to that collector, batched, with `OTEL_SERVICE_NAME` (default
"persona-lab") as the service. With neither set nothing is configured, and the spans below go to
OpenTelemetry's no-op tracer (a function call each, no allocation of spans, no export).

What is traced:
- every HTTP request (`opentelemetry-instrumentation-django`, WSGI and ASGI);
- every Celery task, with the trace carried from the request that queued it to the worker
  (`opentelemetry-instrumentation-celery`, set up in each worker process);
- the platform's own spans: `run.chunk` (run id, the chunk's persona range, personas in it and
  answers written), `run.finalize` (run id, status) and `llm.call` (provider, model, cached or not,
  tokens, cost, run and persona ids; OpenTelemetry's `gen_ai.*` names where one exists).

`configure` is idempotent and called by the web entry points (`config.asgi`, `config.wsgi`) and by
each Celery worker process (`config.celery`). Tests pass their own provider (an in-memory exporter)
and take it back with `reset`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_PYTHON_TRACER_PROVIDER
from opentelemetry.trace import Span, Tracer, TracerProvider

logger = logging.getLogger(__name__)

_TRACER_NAME = "personalab"
_provider: TracerProvider | None = None

AttributeValue = str | bool | int | float


def enabled_by_environment() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure(*, provider: TracerProvider | None = None, celery: bool = True) -> bool:
    """Start tracing: with `provider` (tests), or with an OTLP exporter when the environment names
    a collector. Returns whether tracing is on. Must run before Django builds its middleware chain
    (the Django instrumentor adds a middleware)."""
    global _provider
    if _provider is not None:
        return True
    if provider is None:
        if not enabled_by_environment():
            return False
        provider = _otlp_provider()
        trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument(tracer_provider=provider)
    if celery:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    logger.info("OpenTelemetry tracing is on")
    return True


def reset() -> None:
    """Stop tracing (tests): the instrumentors come off and spans go back to the no-op tracer."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().uninstrument()
    CeleryInstrumentor().uninstrument()
    _provider = None


def _otlp_provider() -> TracerProvider:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", "persona-lab")})
    provider = SdkTracerProvider(resource=resource)
    # The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout) itself.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def tracer() -> Tracer:
    if _provider is not None:
        return _provider.get_tracer(_TRACER_NAME)
    return trace.get_tracer(_TRACER_NAME)


_UNKNOWN = object()

# What `span` gives when nothing traces: reusable, and re-entrant.
_OFF: AbstractContextManager[Span] = nullcontext(trace.INVALID_SPAN)


# Whether the environment names a tracer provider for the API to load (read at import, as the API
# itself only loads one on its first use).
_ENV_PROVIDER = OTEL_PYTHON_TRACER_PROVIDER in os.environ


def tracing() -> bool:
    """Whether spans go anywhere: `configure` turned tracing on, or a real tracer provider was
    installed globally by other means.

    Asked once or more a model call: `trace.get_tracer_provider()` looks the environment up
    (`os.environ`, a KeyError raised and caught) every time no provider is set, a few percent of
    an LLM run's CPU. The API's global is read first; should a release of the API not have it,
    its public call decides."""
    if _provider is not None:
        return True
    if getattr(trace, "_TRACER_PROVIDER", _UNKNOWN) is None and not _ENV_PROVIDER:
        return False
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def span(
    name: str, attributes: Mapping[str, AttributeValue | None] | None = None
) -> AbstractContextManager[Span]:
    """A span around a block; attributes that are None are left out. An exception leaving the
    block is recorded on the span, which ends with an error status. When nothing traces, a
    do-nothing context whose span records nothing."""
    if not tracing():
        return _OFF
    return _span(name, attributes)


@contextmanager
def _span(name: str, attributes: Mapping[str, AttributeValue | None] | None) -> Iterator[Span]:
    clean = {k: v for k, v in (attributes or {}).items() if v is not None}
    with tracer().start_as_current_span(name, attributes=clean) as current:
        yield current


def set_attributes(target: Span, attributes: Mapping[str, Any]) -> None:
    if not target.is_recording():
        return
    for key, value in attributes.items():
        if value is None:
            continue
        if not isinstance(value, str | bool | int | float):
            value = str(value)
        target.set_attribute(key, value)
