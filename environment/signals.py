"""Cache invalidation: a saved or deleted area or figure retires the cached environmental contexts
once its transaction commits (bulk loads call environment.services.reference_data_changed)."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from environment.models import Area, DataGap, DemographicMarginal, EconomicIndicator, ElectionResult
from environment.services import reference_data_changed

REFERENCE_MODELS = (Area, DemographicMarginal, ElectionResult, EconomicIndicator, DataGap)


def _reference_row_changed(sender, **kwargs) -> None:
    transaction.on_commit(reference_data_changed)


def connect() -> None:
    for model in REFERENCE_MODELS:
        for signal in (post_save, post_delete):
            signal.connect(
                _reference_row_changed,
                sender=model,
                dispatch_uid=f"environment-reference-{model.__name__}-{signal is post_save}",
            )
