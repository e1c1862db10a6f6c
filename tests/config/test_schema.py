from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_openapi_schema_validates_without_warnings(tmp_path):
    # Raises (non-zero exit) on any warning or validation error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    text = (tmp_path / "schema.yaml").read_text()
    for path in (
        "/api/v1/areas/",
        "/api/v1/polls/",
        "/api/v1/populations/",
        "/api/v1/studies/",
        "/api/v1/runs/{id}/cancel/",
        "/api/v1/runs/{id}/results/",
    ):
        assert path in text
