from __future__ import annotations

from decimal import Decimal

import pytest

from llm.services import model_price_set
from personas.services import AreaWeight, population_create
from studies.services import ItemSpec, study_create
from tests.conftest import DEMO_AREAS
from tests.llm.fake_llm_server import FakeLLMServer
from tests.llm.persona_responder import persona_responder

# Made-up figures for the tests, not a provider's real price list (per million tokens).
PRICE_IN, PRICE_OUT = Decimal("2.00"), Decimal("8.00")


class FakeReporter:
    """Records what the pipeline reports instead of publishing it."""

    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def progress(self, **kw):
        self.events.append(("progress", kw))

    def completion(self, **kw):
        self.events.append(("completion", kw))

    def error(self, **kw):
        self.events.append(("error", kw))


@pytest.fixture
def reporter() -> FakeReporter:
    return FakeReporter()


@pytest.fixture
def population(user):
    """240 personas owned by `user` (the `api` client's user)."""
    return population_create(
        size=240, areas=[AreaWeight(a) for a in DEMO_AREAS], seed=5, created_by=user
    )


@pytest.fixture
def study(cces_question, user):
    return study_create(
        created_by=user,
        title="Employer coverage",
        items=[
            ItemSpec(code="coverage", text=cces_question.text, poll_question_id=cces_question.id)
        ],
    )


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Execute on_commit callbacks (the dispatch) as the request's transaction would on commit."""

    def call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return call


@pytest.fixture
def model_server(llm_env):
    """A local server speaking the OpenAI and Anthropic protocols, answering the engine's prompts."""
    with FakeLLMServer(responder=persona_responder) as server:
        yield server


@pytest.fixture
def price():
    return model_price_set(
        provider="openai",
        model="gpt-test",
        input_per_million=PRICE_IN,
        output_per_million=PRICE_OUT,
        source="test fixture",
    )
