"""Strict JSON types: a JSON body's value of the wrong JSON type is refused with a 400 that names
the field, the type it wants and the one it got, instead of being coerced (``{"name": 47291}``
stored as "47291", ``{"size": "5"}`` read as 5). Form posts and query strings, whose values are
text by nature, are read as before. Every API serializer is held to it."""

from __future__ import annotations

import inspect

import pytest
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from config import api as api_conventions
from config.json_types import json_type_errors
from personas.models import Persona

pytestmark = pytest.mark.django_db


class Probe(api_conventions.Serializer):
    """One field of each kind the API's serializers use."""

    text = serializers.CharField(required=False)
    slug = serializers.SlugField(required=False)
    choice = api_conventions.ChoiceField(choices=["a", "b"], required=False)
    drf_choice = serializers.ChoiceField(choices=["a", "b"], required=False)
    when = api_conventions.DateTimeField(required=False)
    integer = serializers.IntegerField(required=False)
    number = serializers.FloatField(required=False)
    decimal = serializers.DecimalField(
        max_digits=8, decimal_places=2, coerce_to_string=False, required=False
    )
    flag = serializers.BooleanField(required=False)
    texts = serializers.ListField(child=serializers.CharField(), required=False)
    mapping = serializers.DictField(child=serializers.IntegerField(), required=False)
    anything = serializers.DictField(required=False)
    document = serializers.JSONField(required=False)
    persona = serializers.PrimaryKeyRelatedField(queryset=Persona.objects.all(), required=False)


class Outer(api_conventions.Serializer):
    inner = Probe(required=False)
    many = Probe(many=True, required=False)


WRONG = [
    ("text", 47291, "a string", "a number (47291)"),
    ("text", True, "a string", "a boolean (true)"),
    ("text", {"a": 1}, "a string", "an object"),
    ("text", ["x"], "a string", "an array"),
    ("slug", 5, "a string", "a number (5)"),
    ("choice", 1, "a string", "a number (1)"),
    ("drf_choice", False, "a string", "a boolean (false)"),
    ("when", 1733000000, "a string", "a number (1733000000)"),
    ("integer", "5", "an integer", 'a string ("5")'),
    ("integer", True, "an integer", "a boolean (true)"),
    ("integer", 2.5, "an integer", "a number with a fraction (2.5)"),
    ("integer", [5], "an integer", "an array"),
    ("number", "0.5", "a number", 'a string ("0.5")'),
    ("number", False, "a number", "a boolean (false)"),
    ("decimal", "5.00", "a number", 'a string ("5.00")'),
    ("decimal", True, "a number", "a boolean (true)"),
    ("flag", "true", "a boolean", 'a string ("true")'),
    ("flag", 1, "a boolean", "a number (1)"),
    ("flag", 0, "a boolean", "a number (0)"),
    ("texts", "age", "an array", 'a string ("age")'),
    ("texts", {"0": "age"}, "an array", "an object"),
    ("mapping", ["a"], "an object", "an array"),
    ("mapping", "a=1", "an object", 'a string ("a=1")'),
    ("anything", [1], "an object", "an array"),
    ("persona", "5", "an integer", 'a string ("5")'),
]


@pytest.mark.parametrize(("name", "value", "wanted", "got"), WRONG)
def test_a_value_of_the_wrong_json_type_is_named_with_both_types(name, value, wanted, got):
    serializer = Probe(data={name: value})
    assert not serializer.is_valid()
    assert serializer.errors == {name: [f"Expected {wanted}, got {got}."]}


RIGHT = [
    ("text", "47291"),
    ("choice", "a"),
    ("when", "2024-01-05T09:30:00Z"),
    ("integer", 5),
    ("integer", 5.0),  # JSON Schema: a number without a fraction is an integer
    ("number", 1),
    ("number", 0.5),
    ("decimal", 5),
    ("decimal", 0.1),
    ("flag", True),
    ("flag", False),
    ("texts", ["a", "b"]),
    ("mapping", {"a": 1}),
    ("anything", {"a": [1, "x", None]}),
    ("document", "any JSON"),
    ("document", [1, {"a": None}]),
    ("text", None),  # null is the field's own business (allow_null)
]


@pytest.mark.parametrize(("name", "value"), RIGHT)
def test_a_value_of_the_documented_json_type_passes_the_type_check(name, value):
    assert json_type_errors(Probe(), {name: value}) is None


def test_a_decimal_given_as_a_json_number_is_read_exactly():
    serializer = Probe(data={"decimal": 0.1})
    assert serializer.is_valid(), serializer.errors
    assert str(serializer.validated_data["decimal"]) == "0.10"


def test_items_of_lists_and_dicts_and_nested_fields_are_checked_where_they_are():
    serializer = Outer(
        data={
            "inner": {"integer": "5", "texts": ["ok", 7], "mapping": {"a": 1, "b": "2"}},
            "many": [{"flag": True}, {"flag": "yes"}],
        }
    )
    assert not serializer.is_valid()
    assert serializer.errors == {
        "inner": {
            "integer": ['Expected an integer, got a string ("5").'],
            "texts": {1: ["Expected a string, got a number (7)."]},
            "mapping": {"b": ['Expected an integer, got a string ("2").']},
        },
        "many": [{}, {"flag": ['Expected a boolean, got a string ("yes").']}],
    }


@pytest.mark.parametrize(
    ("name", "value", "wanted"),
    [("inner", "x", "an object"), ("inner", [], "an object"), ("many", {"flag": True}, "an array")],
)
def test_a_nested_serializer_given_the_wrong_container_is_refused(name, value, wanted):
    serializer = Outer(data={name: value})
    assert not serializer.is_valid()
    assert serializer.errors[name][0].startswith(f"Expected {wanted}, got")


def test_form_values_are_read_as_text_as_before():
    from django.http import QueryDict

    from config.parsers import FormData

    form = FormData(integer="5", flag="true", number="0.5", text="47291")
    serializer = Probe(data=form)
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {
        "integer": 5,
        "flag": True,
        "number": 0.5,
        "text": "47291",
    }
    # DRF copies the form to add a multipart body's files: still a form.
    assert isinstance(form.copy(), FormData)
    assert Probe(data=QueryDict("integer=5&flag=false")).is_valid()


def test_query_serializers_read_text_even_from_a_dict():
    from validation.api.serializers import AccuracyReportQuerySerializer

    query = AccuracyReportQuerySerializer(data={"days": "30"})
    assert query.is_valid(), query.errors
    assert query.validated_data["days"] == 30


# --- through the API: the JSON error shape ------------------------------------------------------

API_CASES = [
    # (path, body, the field as the message names it, wanted, got)
    ("/api/v1/keys/", {"name": 47291}, "name", "a string", "a number (47291)"),
    ("/api/v1/keys/", {"name": "k", "scope": 2}, "scope", "a string", "a number (2)"),
    (
        "/api/v1/populations/",
        {"size": "5", "areas": [{"area": "dallas_tx_city"}]},
        "size",
        "an integer",
        'a string ("5")',
    ),
    (
        "/api/v1/populations/",
        {"size": 5, "areas": [{"area": "dallas_tx_city", "weight": "2"}]},
        "areas.weight",
        "a number",
        'a string ("2")',
    ),
    (
        "/api/v1/populations/",
        {"size": 5, "areas": [{"area": "dallas_tx_city"}], "constraints": {"sex": "female"}},
        "constraints.sex",
        "an array",
        'a string ("female")',
    ),
    (
        "/api/v1/populations/",
        {"size": 5, "areas": [{"area": "dallas_tx_city"}], "include_behavioral_characteristics": 1},
        "include_behavioral_characteristics",
        "a boolean",
        "a number (1)",
    ),
    ("/api/v1/runs/", {"study": 1, "population": 1, "budget": "5.00"}, "budget", "a number", ""),
    (
        "/api/v1/studies/",
        {"title": "t", "items": [{"code": "q", "text": "?"}], "prompt_templates": ["x"]},
        "prompt_templates",
        "an object",
        "an array",
    ),
    (
        "/api/v1/polls/relevant/",
        {"scenario": "Raising the minimum wage", "persona": "1"},
        "persona",
        "an integer",
        'a string ("1")',
    ),
]


@pytest.mark.parametrize(("path", "body", "field", "wanted", "got"), API_CASES)
def test_a_json_body_of_the_wrong_type_is_a_400_naming_the_field(
    api, path, body, field, wanted, got
):
    response = api.post(path, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith(f"Invalid input — {field}: Expected {wanted}, got {got}")
    top = field.split(".")[0]
    assert top in error["fields"]


def test_an_integer_name_no_longer_becomes_a_key_named_by_its_digits(api, user):
    """The fuzzer's finding: POST /api/v1/keys/ {"name": 47291} made a key named "47291"."""
    response = api.post("/api/v1/keys/", {"name": 47291}, format="json")
    assert response.status_code == 400
    assert not user.api_keys.exists()


def test_a_whole_number_written_with_a_point_is_an_integer(api):
    response = api.post(
        "/api/v1/populations/",
        {"size": 5.0, "areas": [{"area": "dallas_tx_city"}], "seed": 1},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["size"] == 5


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(api, constant):
    body = (
        '{"title": "t", "items": [{"code": "q", "text": "?", "type": "numeric", "min_value": %s}]}'
    )
    response = api.post("/api/v1/studies/", body % constant, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_request" and f"{constant} is not JSON" in error["message"]


# --- form posts read as before --------------------------------------------------------------------


def test_a_boolean_as_form_text_still_works_where_json_refuses_it(api, user):
    body = {"confirm": user.username, "delete_account": "false"}
    as_json = api.post("/api/v1/me/delete/", body, format="json")
    assert as_json.status_code == 400
    assert as_json.json()["error"]["fields"] == {
        "delete_account": ['Expected a boolean, got a string ("false").']
    }
    for form in ("multipart", None):  # None: urlencoded
        if form is None:
            response = api.post(
                "/api/v1/me/delete/",
                f"confirm={user.username}&delete_account=false",
                content_type="application/x-www-form-urlencoded",
            )
        else:
            response = api.post("/api/v1/me/delete/", body, format=form)
        assert response.status_code == 200, response.json()
        assert response.json()["account_deleted"] is False


def test_ids_as_form_text_still_work_where_json_refuses_them(api):
    population = api.post(
        "/api/v1/populations/",
        {"size": 5, "areas": [{"area": "dallas_tx_city"}], "seed": 1},
        format="json",
    ).json()
    study = api.post(
        "/api/v1/studies/",
        {"title": "t", "items": [{"code": "q", "text": "Yes or no?", "options": [
            {"code": "yes", "label": "Yes"}, {"code": "no", "label": "No"}]}]},
        format="json",
    ).json()  # fmt: skip
    ids = {"study": str(study["id"]), "population": str(population["id"])}
    assert api.post("/api/v1/runs/estimate/", ids, format="json").status_code == 400
    as_form = api.post("/api/v1/runs/estimate/", ids, format="multipart")
    assert as_form.status_code == 200, as_form.json()
    as_json = api.post(
        "/api/v1/runs/estimate/",
        {"study": study["id"], "population": population["id"]},
        format="json",
    )
    assert as_json.json() == as_form.json()


# --- every API serializer is held to it ---------------------------------------------------------


PROJECT_PACKAGES = {
    "accounts", "config", "environment", "llm", "personas", "polls", "studies", "validation",
}  # fmt: skip


def _project_serializers() -> list[type]:
    """Every serializer class the project defines, once the URLconf has imported all views."""
    get_resolver().url_patterns  # noqa: B018 (imports every view, and so every serializer)
    found, stack = [], [serializers.BaseSerializer]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PROJECT_PACKAGES:
            found.append(cls)
    return found


def test_every_serializer_the_project_defines_derives_from_the_strict_base():
    classes = _project_serializers()
    assert len(classes) > 100  # the walk found them (a regression guard for the walk itself)
    loose = [
        f"{c.__module__}.{c.__qualname__}"
        for c in classes
        if not issubclass(c, api_conventions.Serializer)
    ]
    assert loose == [], "derive these from config.api.Serializer / ModelSerializer"


def test_every_request_body_of_the_schema_is_read_by_a_strict_serializer(monkeypatch):
    seen: list[tuple[str, str, object]] = []
    original = AutoSchema._get_request_for_media_type

    def recording(self, serializer, direction="request"):
        seen.append((self.path, self.method, serializer))
        return original(self, serializer, direction)

    monkeypatch.setattr(AutoSchema, "_get_request_for_media_type", recording)
    SchemaGenerator(api_version="v1").get_schema(request=None, public=True)
    bodies = {(path, method) for path, method, _ in seen}
    assert ("/api/v1/keys/", "POST") in bodies and len(bodies) >= 15
    loose = []
    for path, method, serializer in seen:
        cls = serializer if inspect.isclass(serializer) else type(serializer)
        if isinstance(serializer, serializers.ListSerializer):
            cls = type(serializer.child)
        if not (inspect.isclass(cls) and issubclass(cls, serializers.BaseSerializer)) or issubclass(
            cls, api_conventions.Serializer
        ):
            continue  # a file upload or plain JSON (no fields to type), or a strict serializer
        loose.append(f"{method} {path}: {cls.__qualname__}")
    assert loose == []


def test_the_schema_documents_a_budget_as_the_json_number_it_takes():
    schema = SchemaGenerator(api_version="v1").get_schema(request=None, public=True)
    request = schema["components"]["schemas"]["RunCreateRequest"]["properties"]["budget"]
    assert request["type"] == "number" and "pattern" not in request


def test_one_answer_names_the_type_errors_and_the_other_fields_errors(api):
    """A body with a wrong type and another mistake: both in one answer, not one per try."""
    response = api.post(
        "/api/v1/studies/", {"title": 5, "depth": "deepest"}, format="json"
    )  # items missing too
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("Invalid input — title: Expected a string, got")
    assert set(error["fields"]) == {"title", "items", "depth"}
    assert error["fields"]["items"] == ["This field is required."]
    assert "valid choice" in error["fields"]["depth"][0]
