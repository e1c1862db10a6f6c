"""The LLM backend validated end to end against the local provider server (tests/llm)."""

from __future__ import annotations

import pytest

from config.errors import DomainError
from tests.llm.fake_llm_server import FakeLLMServer
from tests.llm.persona_responder import persona_responder
from tests.validation.factories import full_profile_poll
from validation.models import ValidationRun
from validation.services import validation_run_holdout

pytestmark = pytest.mark.django_db


@pytest.fixture
def model_server():
    """The local provider server answering as a persona model would (tests/llm)."""
    with FakeLLMServer(responder=persona_responder) as server:
        yield server


def _config(server) -> dict:
    return {
        "llm": {"provider": "openai", "model": "gpt-test", "seed": 3,
                "base_url": server.openai_base_url},
        "engine": {"concurrency": 1},
    }  # fmt: skip


def test_held_out_respondents_asked_through_the_llm_are_scored_beside_the_poll_model(
    model_server, llm_env
):
    run = validation_run_holdout(
        question=full_profile_poll(), holdout_fraction=0.2, seed=2, min_group=5,
        llm=_config(model_server), llm_personas=12,
    )  # fmt: skip
    m = run.metrics
    assert m["methods"][-1] == "llm" and {"poll_model", "national_marginal", "uniform"} <= set(
        m["methods"]
    )
    assert m["llm"]["asked"] == 12 and m["llm"]["answered"] + m["llm"]["failed"] == 12
    # Every method is scored on the same respondents: those the LLM answered.
    assert run.n_test == m["llm"]["answered"] == m["overall"]["n"]
    llm = m["overall"]["methods"]["llm"]
    assert 0 <= llm["total_variation"] <= 1 and llm["mae_points"] is not None
    assert m["calibration"]["llm"]["forecasts"] == run.n_test * len(m["options"])
    assert m["coverage"]["llm"]["whole_sample"] is not None
    assert run.model_version.endswith(";llm:gpt-test") and run.method == "poll_cell+llm"
    assert m["llm"]["grounding"].startswith("off")
    # Each persona went through the engine's steps on the local server, with its own state.
    assert len(model_server.requests) >= 3 * m["llm"]["answered"]  # context, experience, answer
    assert ValidationRun.objects.filter(id=run.id).exists()


def test_an_llm_config_without_a_key_is_refused_with_the_reason(cces_question, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(DomainError) as error:
        validation_run_holdout(
            question=cces_question, llm={"llm": {"provider": "openai", "model": "gpt-test"}},
            llm_personas=3,
        )  # fmt: skip
    assert error.value.code == "invalid_llm_config" and "OPENAI_API_KEY" in error.value.message


def test_a_poll_without_full_profiles_cannot_be_asked_as_personas_and_says_why(
    cces_question, fake_llm, llm_env
):
    # The bundled CCES extract records no income: no respondent can be a persona.
    with pytest.raises(DomainError, match="income"):
        validation_run_holdout(question=cces_question, llm=_config(fake_llm), llm_personas=3)
    assert fake_llm.requests == []


def test_the_api_runs_an_llm_validation(api, model_server, llm_env):
    question = full_profile_poll()
    response = api.post(
        "/api/v1/validation/runs/",
        {"question": question.id, "llm": _config(model_server), "llm_personas": 5},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["metrics"]["llm"]["asked"] == 5 and "llm" in body["metrics"]["methods"]
