"""URLs for tests/config/test_asgi.py: the project's own, plus one export streamed in small batches
(config.tabular, as the population and run exports stream), so a test can see a response leave the
WSGI thread a piece at a time."""

from __future__ import annotations

from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path

from config.tabular import Table, table_response
from config.urls import urlpatterns as project_urlpatterns

STREAMED_ROWS = 12_000  # three batches of config.tabular.BATCH_ROWS


def streamed_export(request: HttpRequest) -> StreamingHttpResponse:
    table = Table(
        [("id", "int"), ("label", "str")], ([i, f"row {i}"] for i in range(STREAMED_ROWS))
    )
    return table_response(table, "csv", filename="streamed")


urlpatterns = [path("test-streamed-export/", streamed_export), *project_urlpatterns]
