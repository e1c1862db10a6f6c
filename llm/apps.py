from __future__ import annotations

from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "Language models (gateway, cache, call log)"
    default_auto_field = "django.db.models.BigAutoField"
