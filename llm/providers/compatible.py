"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, LiteLLM) by base URL."""

from __future__ import annotations

from llm.providers.openai import OpenAIChatAdapter


class CompatibleChatAdapter(OpenAIChatAdapter):
    max_tokens_field = "max_tokens"
