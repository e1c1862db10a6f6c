from __future__ import annotations

import pytest
from statsmodels.stats.proportion import proportion_confint

from studies.models import Run, Study

pytestmark = pytest.mark.django_db


def _study_payload(question_id):
    return {
        "title": "Coverage",
        "kind": "policy_support",
        "items": [
            {
                "code": "coverage",
                "text": "Employers may decline coverage?",
                "poll_question": question_id,
            }
        ],
    }


def test_a_run_started_through_the_api_completes_with_intervals_and_breakdowns(
    api, cces_question, population, run_on_commit
):
    study = api.post("/api/v1/studies/", _study_payload(cces_question.id), format="json")
    assert study.status_code == 201, study.json()
    assert [o["code"] for o in study.json()["items"][0]["options"]] == ["support", "oppose"]

    started = run_on_commit(
        api.post,
        "/api/v1/runs/",
        {"study": study.json()["id"], "population": population.id, "seed": 3, "chunk_size": 50},
        format="json",
    )
    assert started.status_code == 201, started.json()
    run_id = started.json()["id"]
    detail = api.get(f"/api/v1/runs/{run_id}/").json()
    assert detail["status"] == "completed"
    assert detail["personas_done"] == detail["personas_total"] == 240

    results = api.get(f"/api/v1/runs/{run_id}/results/").json()
    item = results["items"][0]
    assert item["n"] == 240
    assert sum(o["count"] for o in item["options"]) == 240
    for option in item["options"]:
        low, high = proportion_confint(option["count"], 240, alpha=0.05, method="wilson")
        assert (option["ci_low"], option["ci_high"]) == pytest.approx((low, high))
    assert {g["category"] for g in item["breakdowns"]["area"]} == {
        "dallas_tx_city",
        "detroit_mi_city",
        "minneapolis_mn_city",
        "phoenix_az_city",
    }
    for dimension in ("sex", "age_bracket", "race_ethnicity", "education", "income"):
        assert sum(g["n"] for g in item["breakdowns"][dimension]) == 240


def test_studies_are_listed_and_shown(api, study):
    listed = api.get("/api/v1/studies/").json()
    assert study.id in [s["id"] for s in listed["results"]]
    assert api.get(f"/api/v1/studies/{study.id}/").json()["items"][0]["code"] == "coverage"


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"title": "Empty", "items": []}, 400, "at least one item"),
        (
            {"title": "No options", "items": [{"code": "q", "text": "Q?"}]},
            400,
            "at least two options",
        ),
        (
            {
                "title": "Bad question",
                "items": [{"code": "q", "text": "Q?", "poll_question": 999999}],
            },
            400,
            "poll question 999999 does not exist",
        ),
        (
            {
                "items": [
                    {
                        "code": "q",
                        "text": "Q?",
                        "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}],
                    }
                ]
            },
            400,
            "title",
        ),
    ],
)
def test_bad_studies_are_refused_and_nothing_is_stored(api, payload, status, fragment):
    before = Study.objects.count()
    response = api.post("/api/v1/studies/", payload, format="json")
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]
    assert Study.objects.count() == before


def test_malformed_json_gets_a_json_error_saying_so(api):
    response = api.post(
        "/api/v1/studies/", data='{"title": "x", "items": [', content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert "JSON" in error["message"]


def test_an_ungrounded_item_is_refused_by_the_offline_backend(api, population):
    study = api.post(
        "/api/v1/studies/",
        {
            "title": "Made up",
            "items": [
                {
                    "code": "price",
                    "text": "Buy at $5?",
                    "options": [{"code": "yes", "label": "Yes"}, {"code": "no", "label": "No"}],
                }
            ],
        },
        format="json",
    ).json()
    response = api.post(
        "/api/v1/runs/", {"study": study["id"], "population": population.id}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "backend_refused"
    assert "not linked to a poll question" in error["message"]
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"study": 999999}, "Study 999999 does not exist"),
        ({"population": 999999}, "Population 999999 does not exist"),
        ({"backend": "oracle"}, "backend"),
    ],
)
def test_bad_run_requests_are_refused(api, study, population, payload, fragment):
    body = {"study": study.id, "population": population.id, **payload}
    response = api.post("/api/v1/runs/", body, format="json")
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_results_of_an_unfinished_run_are_a_409(api, user, study, population):
    run = Run.objects.create(
        created_by=user,
        study=study,
        population=population,
        backend="poll_cell",
        seed=1,
        personas_total=240,
        chunk_size=50,
    )
    response = api.get(f"/api/v1/runs/{run.id}/results/")
    assert response.status_code == 409
    assert "no results yet" in response.json()["error"]["message"]


def test_a_queued_run_can_be_cancelled_once(api, user, study, population):
    run = Run.objects.create(
        created_by=user,
        study=study,
        population=population,
        backend="poll_cell",
        seed=1,
        personas_total=240,
        chunk_size=50,
    )
    first = api.post(f"/api/v1/runs/{run.id}/cancel/")
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    second = api.post(f"/api/v1/runs/{run.id}/cancel/")
    assert second.status_code == 409
    assert "already cancelled" in second.json()["error"]["message"]


def test_schema_is_served(api):
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/runs/{id}/results/" in response.content
