"""Traces (OpenTelemetry, into an in-memory exporter here; OTLP in production) and `/metrics`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from accounts.services import api_key_create
from config import telemetry
from llm.models import LLMCall
from personas.services import AreaWeight, population_create
from studies.backends.base import BackendConfigError
from studies.models import Run
from studies.services import ItemSpec, OptionSpec, run_start, study_create
from studies.tasks import run_chunk, run_complete
from tests.redis_db import redis_test_url
from tests.studies.test_llm_backend import llm_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def llm_study():
    return study_create(
        title="A transit levy",
        items=[
            ItemSpec(
                code="levy",
                text="Would you vote for a half-cent sales tax to pay for more buses?",
                options=[OptionSpec("yes", "Yes"), OptionSpec("no", "No")],
            )
        ],
    )


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert telemetry.configure(provider=provider)
    yield exporter
    telemetry.reset()


def _named(exporter, name):
    return [s for s in exporter.get_finished_spans() if s.name == name]


def test_tracing_is_off_unless_a_collector_is_configured(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert telemetry.configure() is False
    with telemetry.span("nothing", {"a": 1}) as span:
        assert not span.is_recording()


def test_a_tracer_provider_installed_globally_by_other_means_turns_spans_on(monkeypatch):
    from opentelemetry import trace

    assert telemetry.tracing() is False
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # What `trace.set_tracer_provider` sets (once a process: patched here, and undone after).
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    assert telemetry.tracing() is True
    with telemetry.span("elsewhere", {"a": 1}) as span:
        assert span.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["elsewhere"]


def test_a_request_is_traced_as_a_server_span(spans, api):
    response = api.get("/api/v1/studies/")
    assert response.status_code == 200
    server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert len(server) == 1
    assert "/api/v1/studies/" in str(dict(server[0].attributes or {}).values())


def test_a_run_traces_its_chunk_its_finalize_and_every_model_call_with_counts(
    spans, model_server, llm_study, price
):
    population = population_create(size=3, areas=[AreaWeight("dallas_tx_city")], seed=21)
    run = run_start(
        study=llm_study,
        population=population,
        backend="llm",
        backend_config=llm_config(model_server),
        seed=1,
        executor="inline",
    )
    assert run_chunk.apply(args=(run.id, 0, 3)).get() == 3
    run_complete.apply(args=(None, run.id)).get()

    (chunk,) = _named(spans, "run.chunk")
    assert dict(chunk.attributes or {}) == {
        "personalab.run.id": run.id,
        "personalab.chunk.start": 0,
        "personalab.chunk.end": 3,
        "personalab.chunk.personas": 3,
        "personalab.chunk.try": 1,
        "personalab.chunk.personas_processed": 3,
    }
    (final,) = _named(spans, "run.finalize")
    assert final.attributes["personalab.run.status"] == Run.Status.COMPLETED

    calls = _named(spans, "llm.call")
    logged = LLMCall.objects.filter(run_id=run.id)
    assert len(calls) == logged.count() > 0
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in calls) == sum(
        c.input_tokens or 0 for c in logged
    )
    assert {s.attributes["gen_ai.request.model"] for s in calls} == {"gpt-test"}
    assert {s.attributes["personalab.run.id"] for s in calls} == {run.id}
    # Each call is a child of the chunk that made it, in the same trace.
    assert {s.parent.span_id for s in calls} == {chunk.context.span_id}
    assert {s.context.trace_id for s in calls} == {chunk.context.trace_id}
    # The prompt and the reply never go into a trace.
    assert not any("content" in key for s in calls for key in (s.attributes or {}))


def test_a_failing_chunk_ends_its_span_with_the_error(spans, llm_study, model_server):
    population = population_create(size=2, areas=[AreaWeight("dallas_tx_city")], seed=21)
    config = llm_config(model_server)
    run = run_start(
        study=llm_study,
        population=population,
        backend="llm",
        backend_config=config,
        seed=1,
        executor="inline",
    )
    Run.objects.filter(id=run.id).update(backend_config={"llm": {"provider": "nobody"}})
    with pytest.raises(BackendConfigError, match="provider"):
        run_chunk.apply(args=(run.id, 0, 2)).get()
    (chunk,) = _named(spans, "run.chunk")
    assert chunk.status.status_code == StatusCode.ERROR
    assert [e.name for e in chunk.events] == ["exception"]


@pytest.fixture
def worker_on_redis():
    """The project's Celery settings on a Redis database of this file's own, with celery's test
    worker (solo pool) in a thread of this process; yields a task that opens a span of its own.
    Eager mode would not do: the trace travels in the message's headers, written when a task is
    published and read when a worker takes it, and an eager task is neither."""
    import redis
    from celery import Celery, _state
    from celery.contrib.testing.worker import start_worker

    url = redis_test_url("tracing")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    client.flushdb()
    app = Celery("personalab-tracing-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_always_eager=False,
        worker_hijack_root_logger=False,
    )

    @app.task(name="tests.tracing.traced")
    def traced() -> str:
        with telemetry.span("inside.task"):
            return "done"

    # The test worker makes its app the current and default one: give the project's back after.
    previous = _state.default_app, getattr(_state._tls, "current_app", None)
    try:
        with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
            yield traced
    finally:
        _state.set_default_app(previous[0])
        _state._set_current_app(previous[1])
        app.close()
        client.flushdb()


def _finished(exporter, kind: SpanKind, timeout: float = 10.0) -> list:
    """The finished spans of `kind`, once there is one: the worker ends a task's span after it
    has stored the result the test waited for."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = [s for s in exporter.get_finished_spans() if s.kind == kind]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_a_task_continues_the_trace_of_the_span_that_queued_it(spans, worker_on_redis):
    with telemetry.span("request") as request:
        result = worker_on_redis.delay()
    assert result.get(timeout=30) == "done"

    (run,) = _finished(spans, SpanKind.CONSUMER)
    (publish,) = _finished(spans, SpanKind.PRODUCER)
    (inside,) = _named(spans, "inside.task")
    queued_from = request.get_span_context()
    assert run.name == "run/tests.tracing.traced"
    assert publish.name == "apply_async/tests.tracing.traced"
    # Publishing is a child of the span that queued the task; the task's span, in the worker,
    # continues from it (a remote parent: it came in the message) in the same trace.
    assert publish.parent.span_id == queued_from.span_id
    assert run.parent.span_id == publish.context.span_id and run.parent.is_remote
    assert inside.parent.span_id == run.context.span_id
    assert {s.context.trace_id for s in (publish, run, inside)} == {queued_from.trace_id}


# /metrics -------------------------------------------------------------------------------------


def _scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "operator", password="a-long-test-password", is_staff=True
    )


def test_metrics_count_runs_calls_tokens_and_cost_from_the_database(
    staff, model_server, llm_study, price, run_on_commit
):
    population = population_create(size=3, areas=[AreaWeight("dallas_tx_city")], seed=21)
    run = run_on_commit(
        run_start,
        study=llm_study,
        population=population,
        backend="llm",
        backend_config=llm_config(model_server),
        seed=1,
        executor="inline",
    )
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    client = APIClient()
    client.force_authenticate(staff)

    samples = _scrape(client)

    assert samples[("personalab_runs", (("status", "completed"),))] == 1
    assert samples[("personalab_runs", (("status", "running"),))] == 0
    assert samples[("personalab_runs_stale", ())] == 0
    calls = LLMCall.objects.filter(status=LLMCall.Status.OK)
    labels = (("model", "gpt-test"), ("provider", "openai"), ("status", "ok"))
    assert samples[("personalab_llm_calls_total", labels)] == calls.count() > 0
    tokens = (("direction", "input"), ("model", "gpt-test"), ("provider", "openai"))
    assert samples[("personalab_llm_tokens_total", tokens)] == sum(
        c.input_tokens or 0 for c in LLMCall.objects.all()
    )
    cost = samples[
        (
            "personalab_llm_cost_total",
            (("currency", "USD"), ("model", "gpt-test"), ("provider", "openai")),
        )
    ]
    assert Decimal(str(cost)).quantize(Decimal("0.000001")) == sum(
        (c.cost or Decimal(0) for c in LLMCall.objects.all()), Decimal(0)
    ).quantize(Decimal("0.000001"))
    assert cost > 0


def test_metrics_are_for_staff_only(user, anonymous_api, api, staff):
    assert anonymous_api.get("/metrics").status_code in (401, 403)
    assert api.get("/metrics").status_code == 403  # a client sees only its own work
    _, secret = api_key_create(user=staff, name="prometheus", scope="read")
    scraper = APIClient()
    scraper.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert scraper.get("/metrics").status_code == 200


def test_metrics_read_the_queue_depth_from_a_redis_broker(staff, settings):
    import redis

    url = redis_test_url("observability")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    client.flushdb()
    client.rpush("celery", "a", "b", "c")
    client.hset("unacked", "tag", "message")
    settings.CELERY_BROKER_URL = url
    try:
        api = APIClient()
        api.force_authenticate(staff)
        samples = _scrape(api)
    finally:
        client.flushdb()
    assert samples[("personalab_queue_messages", (("queue", "celery"),))] == 3
    assert samples[("personalab_queue_unacked", ())] == 1


def test_with_a_collector_configured_spans_are_exported_over_otlp_http():
    """A real exporter in a fresh process (the global provider can be set once per process) posts
    to a local collector speaking OTLP/HTTP; the body decodes as an ExportTraceServiceRequest.
    The process starts tracing as a worker's pool process does (`worker_process_init`), with the
    Celery instrumentation the task-trace test above sets up itself."""
    import http.server
    import os
    import subprocess
    import sys
    import threading
    from pathlib import Path

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[tuple[str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "import django; django.setup()\n"
        "from celery.signals import worker_process_init\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.instrumentation.celery import CeleryInstrumentor\n"
        "from config import telemetry\n"
        "assert not telemetry.tracing()\n"
        "worker_process_init.send(sender=None)\n"
        "assert telemetry.tracing() and CeleryInstrumentor().is_instrumented_by_opentelemetry\n"
        "with telemetry.span('run.chunk', {'personalab.run.id': 7}): pass\n"
        "trace.get_tracer_provider().force_flush()\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        "OTEL_SERVICE_NAME": "persona-lab-test",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    (path, body), *_ = received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    (resource,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert service["service.name"] == "persona-lab-test"
    exported = [s for scope in resource.scope_spans for s in scope.spans]
    assert [s.name for s in exported] == ["run.chunk"]
    assert {a.key: a.value.int_value for a in exported[0].attributes} == {"personalab.run.id": 7}
