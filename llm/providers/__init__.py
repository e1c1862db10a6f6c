"""Provider adapters behind one interface (`ProviderAdapter.send`)."""

from __future__ import annotations

from llm.providers.anthropic import AnthropicMessagesAdapter
from llm.providers.base import ProviderAdapter
from llm.providers.compatible import CompatibleChatAdapter
from llm.providers.openai import OpenAIChatAdapter
from llm.types import Provider

_ADAPTERS: dict[str, ProviderAdapter] = {
    Provider.OPENAI: OpenAIChatAdapter(),
    Provider.ANTHROPIC: AnthropicMessagesAdapter(),
    Provider.COMPATIBLE: CompatibleChatAdapter(),
}


def adapter_for(provider: str) -> ProviderAdapter:
    return _ADAPTERS[provider]
