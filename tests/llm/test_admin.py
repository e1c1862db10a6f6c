from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from llm.gateway import LLMConfig, complete_text
from llm.models import LLMCall
from tests.llm.conftest import FAST_RETRY
from tests.llm.fake_llm_server import reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(fake_llm) -> LLMCall:
    fake_llm.script(reply("I would vote for it <b>gladly</b>."))
    config = LLMConfig(provider="openai", model="gpt-test", base_url=fake_llm.openai_base_url)
    result = complete_text(
        config=config,
        messages=[{"role": "user", "content": "Would you vote for the levy?"}],
        run_id=3,
        retry=FAST_RETRY,
    )
    return LLMCall.objects.get(pk=result.attempt.call_id)


def test_admin_lists_filters_and_shows_a_call_read_only(admin_client, call):
    listing = admin_client.get(reverse("admin:llm_llmcall_changelist") + "?status=ok&run_id=3")
    assert listing.status_code == 200
    assert "gpt-test" in listing.content.decode()

    detail = admin_client.get(reverse("admin:llm_llmcall_change", args=[call.pk]))
    page = detail.content.decode()
    assert detail.status_code == 200
    assert "Would you vote for the levy?" in page  # the prompt
    assert "&lt;b&gt;gladly&lt;/b&gt;" in page  # the reply, escaped
    assert 'name="_save"' not in page  # read-only

    assert admin_client.get(reverse("admin:llm_llmcall_add")).status_code == 403


def test_admin_edits_prices(admin_client):
    response = admin_client.post(
        reverse("admin:llm_modelprice_add"),
        {
            "provider": "anthropic",
            "model": "claude-test",
            "input_per_million": "3",
            "output_per_million": "15",
            "currency": "USD",
            "source": "provider price page, checked by hand",
            "notes": "",
        },
    )
    assert response.status_code == 302
    from llm.models import ModelPrice

    price = ModelPrice.objects.get(model="claude-test")
    assert price.output_per_million == Decimal("15")


def test_a_cache_hit_keeps_no_copy_of_the_prompt_and_the_admin_shows_the_first(admin_client, call):
    config = LLMConfig(provider="openai", model="gpt-test", base_url=call.base_url)
    again = complete_text(
        config=config,
        messages=[{"role": "user", "content": "Would you vote for the levy?"}],
        run_id=4,
        retry=FAST_RETRY,
    )
    hit = LLMCall.objects.get(pk=again.attempt.call_id)
    assert hit.status == "cache_hit" and hit.cache_key == call.cache_key
    assert hit.messages == []  # the request is the one logged on `call`
    assert hit.response_text == call.response_text

    page = admin_client.get(reverse("admin:llm_llmcall_change", args=[hit.pk])).content.decode()
    assert f"the request as first sent, in call #{call.pk}" in page
    assert "Would you vote for the levy?" in page

    LLMCall.objects.filter(pk=call.pk).delete()
    page = admin_client.get(reverse("admin:llm_llmcall_change", args=[hit.pk])).content.decode()
    assert "A cache hit whose request is no longer in the call log." in page
    assert "Would you vote for the levy?" not in page
