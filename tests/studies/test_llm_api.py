"""The API of LLM runs: study options, the estimate, budgets, per-persona records and exports."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

import pytest

from personas.services import AreaWeight, population_create
from studies.models import Run, Study
from tests.llm.fake_llm_server import reply
from tests.studies.conftest import PRICE_IN, PRICE_OUT

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_population(user):
    return population_create(size=8, areas=[AreaWeight("phoenix_az_city")], seed=8, created_by=user)


def _study(api, **extra) -> dict:
    payload = {
        "title": "Buses",
        "items": [
            {
                "code": "levy",
                "text": "Would you vote for a half-cent sales tax for more buses?",
                "options": [{"code": "yes", "label": "Yes"}, {"code": "no", "label": "No"}],
            }
        ],
        **extra,
    }
    return api.post("/api/v1/studies/", payload, format="json")


def _config(server, **engine) -> dict:
    return {
        "llm": {"provider": "openai", "model": "gpt-test", "base_url": server.openai_base_url},
        "engine": {"concurrency": 1, **engine},
    }


def test_a_study_keeps_think_aloud_time_on_task_and_its_own_templates(api):
    created = _study(
        api,
        think_aloud=True,
        time_on_task=True,
        prompt_templates={"system": "You are a careful survey respondent."},
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["think_aloud"] and body["time_on_task"]
    assert body["prompt_templates"] == {"system": "You are a careful survey respondent."}


@pytest.mark.parametrize(
    ("templates", "says"),
    [
        ({"intro": "Hello"}, "'intro' is not a step"),
        ({"context": "{% if %}broken"}, "'context' is not a valid template"),
    ],
)
def test_a_bad_prompt_template_is_refused_and_no_study_is_stored(api, templates, says):
    response = _study(api, prompt_templates=templates)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_prompt_templates"
    assert says in error["message"]
    assert not Study.objects.exists()


def test_the_estimate_prices_an_llm_run_and_calls_no_model(
    api, model_server, small_population, price
):
    study = _study(api).json()
    response = api.post(
        "/api/v1/runs/estimate/",
        {
            "study": study["id"],
            "population": small_population.id,
            "backend": "llm",
            "backend_config": _config(model_server),
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    estimate = response.json()["estimate"]
    assert response.json()["costs_money"] is True
    assert estimate["calls"] == 8 * 4  # analyze, context, experience, participation
    expected = (
        Decimal(estimate["input_tokens"]) * PRICE_IN
        + Decimal(estimate["output_tokens"]) * PRICE_OUT
    ) / 1_000_000
    assert Decimal(estimate["amount"]) == expected
    assert model_server.requests == []


def test_the_offline_backend_costs_nothing(api, small_population):
    study = _study(api).json()
    response = api.post(
        "/api/v1/runs/estimate/",
        {"study": study["id"], "population": small_population.id},
        format="json",
    )
    assert response.json() == {"backend": "poll_model", "costs_money": False, "estimate": None}


def test_an_invalid_backend_config_names_the_field(api, model_server, small_population):
    study = _study(api).json()
    response = api.post(
        "/api/v1/runs/",
        {
            "study": study["id"],
            "population": small_population.id,
            "backend": "llm",
            "backend_config": {"llm": {"provider": "openai"}},
        },
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "backend_config.llm.model" in error["fields"]
    assert "backend_config.llm.model" in error["message"]
    assert not Run.objects.exists()


def test_a_run_over_budget_is_refused_with_the_estimate(api, model_server, small_population, price):
    study = _study(api).json()
    response = api.post(
        "/api/v1/runs/",
        {
            "study": study["id"],
            "population": small_population.id,
            "backend": "llm",
            "backend_config": _config(model_server),
            "budget": 0.0001,
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "over_budget"
    assert not Run.objects.exists()


def test_per_persona_records_and_the_seed_layout_export(
    api, model_server, small_population, price, run_on_commit
):
    study = _study(api, think_aloud=True).json()
    # The first persona's first call (analyze) is refused three times: that persona fails alone.
    model_server.script(*[reply("not json")] * 3)
    started = run_on_commit(
        api.post,
        "/api/v1/runs/",
        {
            "study": study["id"],
            "population": small_population.id,
            "backend": "llm",
            "backend_config": _config(model_server),
            "budget": 10,
        },
        format="json",
    )
    assert started.status_code == 201, started.json()
    run = api.get(f"/api/v1/runs/{started.json()['id']}/").json()
    assert run["status"] == "completed"
    assert (run["personas_done"], run["personas_failed"]) == (8, 1)
    assert Decimal(run["cost_spent"]) > 0 and run["llm_calls"] == 3 + 7 * 4
    assert run["cost_estimate"]["amount"] and run["budget"] == 10.0

    listing = api.get(f"/api/v1/runs/{run['id']}/personas/").json()
    assert listing["count"] == 8
    failed = api.get(f"/api/v1/runs/{run['id']}/personas/?status=failed").json()["results"]
    assert len(failed) == 1 and failed[0]["failed_step"] == "analyze"
    bad = api.get(f"/api/v1/runs/{run['id']}/personas/?status=maybe")
    assert bad.status_code == 400 and "ok, failed" in bad.json()["error"]["message"]

    ok = next(r for r in listing["results"] if r["status"] == "ok")
    detail = api.get(f"/api/v1/runs/{run['id']}/personas/{ok['persona']}/").json()
    assert detail["response"]["responses"][0]["think_aloud"]
    assert detail["experience"]["episodes"]

    export = api.get(ok["export_url"])
    assert export["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    folder = f"run_{run['id']}/persona_{ok['persona']}"
    assert sorted(archive.namelist()) == [
        f"{folder}/context.md",
        f"{folder}/experience.md",
        f"{folder}/profile.json",
        f"{folder}/response.json",
    ]
    profile = json.loads(archive.read(f"{folder}/profile.json"))
    assert profile["demographics"]["area_id"] == "phoenix_az_city"
    assert "## Life narrative" in archive.read(f"{folder}/context.md").decode()
    assert "## 1. " in archive.read(f"{folder}/experience.md").decode()

    whole = zipfile.ZipFile(io.BytesIO(api.get(f"/api/v1/runs/{run['id']}/export/").content))
    assert len(whole.namelist()) == 8 * 4
    failed_response = json.loads(
        whole.read(f"run_{run['id']}/persona_{failed[0]['persona']}/response.json")
    )
    assert failed_response["status"] == "failed" and "not valid JSON" in failed_response["failure"]


def test_unknown_run_personas_are_404(api):
    response = api.get("/api/v1/runs/999999/personas/")
    assert response.status_code == 404
    assert "error" in response.json()


def test_a_run_naming_an_internal_host_is_refused_by_the_api(api, study, population, settings):
    settings.LLM_ALLOWED_NETWORKS = []
    refused = api.post(
        "/api/v1/runs/",
        {
            "study": study.id,
            "population": population.id,
            "backend": "llm",
            "backend_config": {
                "llm": {"provider": "compatible", "model": "m", "base_url": "http://127.0.0.1:6379"}
            },
        },
        format="json",
    )
    assert refused.status_code == 400
    assert "private, loopback or link-local" in refused.json()["error"]["message"]


def test_the_estimate_counts_the_participants_a_study_selects(api, model_server, population):
    study = _study(api, quotas={"sex": {"female": 3, "male": 2}}).json()
    estimate = api.post(
        "/api/v1/runs/estimate/",
        {"study": study["id"], "population": population.id, "backend": "llm",
         "backend_config": _config(model_server)},
        format="json",
    ).json()["estimate"]  # fmt: skip
    assert estimate["calls"] == 5 * 4  # five participants, four steps each
    assert model_server.requests == []
