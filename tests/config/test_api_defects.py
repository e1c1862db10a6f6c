"""Defects a walk through the API found (issue 17): refusals that name what is valid, filters
that refuse unknown values, the poll list's question ids, Bearer tokens."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Token
from accounts.services import api_key_create
from polls.models import Poll

pytestmark = pytest.mark.django_db


def test_an_invalid_study_kind_lists_the_valid_kinds(api, cces_question):
    response = api.post(
        "/api/v1/studies/",
        {
            "title": "Kinds",
            "kind": "referendum",
            "items": [{"code": "q", "text": cces_question.text, "poll_question": cces_question.id}],
        },
        format="json",
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert '"referendum" is not a valid choice' in message
    assert "policy_support, message_test, product_pricing" in message


@pytest.mark.parametrize(
    ("query", "field", "names"),
    [
        ({"kind": "town"}, "kind", "city"),
        ({"state": "ZZ"}, "state", "TX"),
    ],
)
def test_an_unknown_area_filter_value_is_a_400_not_an_empty_page(api, query, field, names):
    response = api.get("/api/v1/areas/", query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"] and names in error["message"]


def test_known_area_filters_still_filter(api):
    cities = api.get("/api/v1/areas/", {"kind": "city", "state": "tx"}).json()["results"]
    assert cities and {(a["kind"], a["state"]) for a in cities} == {("city", "TX")}


def test_the_poll_list_carries_each_polls_question_ids(api):
    polls = api.get("/api/v1/polls/").json()["results"]
    cces = next(p for p in polls if p["slug"] == "cces-2018-abortion")
    stored = Poll.objects.get(slug="cces-2018-abortion").questions.values_list("id", flat=True)
    assert sorted(cces["question_ids"]) == sorted(stored)
    assert len(cces["question_ids"]) == cces["question_count"]


def test_a_drf_token_is_accepted_as_bearer_beside_token(user):
    key = Token.objects.create(user=user).key
    for scheme in ("Token", "Bearer"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
        response = client.get("/api/v1/runs/")
        assert response.status_code == 200, (scheme, response.json())


def test_an_api_key_still_works_as_bearer_and_a_wrong_bearer_is_refused(user):
    _, secret = api_key_create(user=user, name="laptop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/runs/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert client.get("/api/v1/runs/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Bearer pl_unknown_secret")
    refused = client.get("/api/v1/runs/")
    assert refused.status_code == 401 and "API key is unknown" in refused.json()["error"]["message"]
