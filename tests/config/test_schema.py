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


def _operations() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(api_version="v1").get_schema(request=None, public=True)
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_operation_documents_its_errors_in_the_json_error_shape():
    operations = _operations()
    assert len(operations) > 30
    for label, operation in operations.items():
        responses = operation["responses"]
        for code in ("401", "403", "429"):
            assert code in responses, label
        if "{" in label:
            assert "404" in responses, label
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(responses), label
        reference = responses["401"]["content"]["application/json"]["schema"]["$ref"]
        assert reference == "#/components/schemas/Error"


def test_a_response_a_view_documents_itself_is_kept():
    # The keys endpoint documents its own 201 with the key shown once; the hook adds, never replaces.
    created = _operations()["POST /api/v1/keys/"]["responses"]["201"]
    assert "Error" not in str(created)
