"""A held run as the API shows it, and the filters of their list."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from config.api import ChoiceField, ModelSerializer, QuerySerializer
from studies.models import HeldRun


class HeldRunSerializer(ModelSerializer):
    budget = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        coerce_to_string=False,
        read_only=True,
        allow_null=True,
        help_text="The run's cost cap (a JSON number, as a request sends it), or null.",
    )
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = HeldRun
        fields = [
            "id", "study", "population", "backend", "backend_config", "budget", "seed",
            "chunk_size", "status", "run", "error_message", "created_at", "settled_at",
            "page_url",
        ]  # fmt: skip
        extra_kwargs = {
            "status": {
                "help_text": "held: waiting for the population; started: `run` is the run "
                "(null once that run is deleted); failed: `error_message` says why, and "
                "POST …/retry/ tries again"
            },
        }

    def get_page_url(self, obj) -> str:
        return obj.get_absolute_url()


class HeldRunFilterSerializer(QuerySerializer):
    status = ChoiceField(choices=HeldRun.Status.choices, required=False)
    population = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,  # an id; a larger number overflows the database's integer
        help_text="Only the runs held for this population",
    )


def _refusal(text: str) -> OpenApiResponse:
    return OpenApiResponse(OpenApiTypes.OBJECT, description=text + " The body is the error shape.")


HOLD_CONFLICT = _refusal(
    "The population failed to build (create a new one), or the run was refused when it "
    "started on a population that is already ready."
)
START_REFUSED = _refusal(
    "The run was refused when it started (over its budget, quotas its population cannot fill): "
    "the held run is now failed with that message."
)
START_CONFLICT = _refusal(
    "The population is not ready (still being built: it starts by itself once it is; or "
    "failed), the held run failed (retry it), or it was cancelled meanwhile."
)
CANCEL_CONFLICT = _refusal(
    "The held run has already started (cancel its run: POST /api/v1/runs/{run}/cancel/) or failed."
)
RETRY_CONFLICT = _refusal(
    "The held run has not failed (only a failed one is retried), or its population failed to "
    "build (create a new population and start the study on it)."
)
