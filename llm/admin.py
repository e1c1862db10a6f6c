from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from llm.models import CachedResponse, LLMCall, ModelPrice
from llm.selectors import llm_call_prompt


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "model",
        "input_per_million",
        "output_per_million",
        "currency",
        "source",
        "updated_at",
    ]
    list_filter = ["provider", "currency"]
    search_fields = ["model", "source", "notes"]


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Log and cache rows are written by the gateway only; the admin reads them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LLMCall)
class LLMCallAdmin(_ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "provider",
        "model",
        "label",
        "status",
        "parsed_ok",
        "attempt",
        "transport_try",
        "input_tokens",
        "output_tokens",
        "cost",
        "latency_ms",
        "run_id",
        "persona_id",
    ]
    list_filter = ["status", "provider", "model", "parsed_ok", "label", "created_at"]
    search_fields = ["=run_id", "=persona_id", "model", "cache_key", "error", "response_text"]
    date_hierarchy = "created_at"
    list_per_page = 100
    exclude = ["messages", "parameters"]
    readonly_fields = [
        "created_at",
        "provider",
        "model",
        "base_url",
        "label",
        "status",
        "http_status",
        "error",
        "parsed_ok",
        "attempt",
        "transport_try",
        "sample_index",
        "input_tokens",
        "output_tokens",
        "cost",
        "currency",
        "latency_ms",
        "run_id",
        "persona_id",
        "cache_key",
        "parameters_pretty",
        "prompt",
        "response_text",
    ]

    @admin.display(description="parameters")
    def parameters_pretty(self, obj: LLMCall) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.parameters, indent=2))

    @admin.display(description="prompt")
    def prompt(self, obj: LLMCall) -> str:
        messages, kept_on = llm_call_prompt(obj)
        text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
        if kept_on is None:
            note = "A cache hit whose request is no longer in the call log."
        elif kept_on.pk != obj.pk:
            note = f"A cache hit: the request as first sent, in call #{kept_on.pk}."
        else:
            note = ""
        return format_html('<p>{}</p><pre style="white-space: pre-wrap">{}</pre>', note, text)


@admin.register(CachedResponse)
class CachedResponseAdmin(_ReadOnlyAdmin):
    list_display = ["key", "provider", "model", "input_tokens", "output_tokens", "created_at"]
    list_filter = ["provider", "model"]
    search_fields = ["=key", "model"]
    readonly_fields = [
        "key",
        "provider",
        "model",
        "response_text",
        "input_tokens",
        "output_tokens",
        "finish_reason",
        "created_at",
    ]
