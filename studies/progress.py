"""The one way run progress leaves the pipeline: reporter -> channel-layer group -> WebSocket.

The `Run` row stays the truth; these messages are a live view of it, so a failure to publish is
logged and never fails the run.
"""

from __future__ import annotations

import logging
from typing import Literal, NotRequired, Protocol, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from studies.models import Run

logger = logging.getLogger(__name__)


class Stage(TypedDict):
    """A step of a run after its personas are answered (a multi-agent run's deliberation
    rounds): the progress bar stays at the personas, the stage says which round is done."""

    name: Literal["deliberation"]
    round: int
    rounds: int


class ProgressMessage(TypedDict):
    type: Literal["progress", "completion", "error"]
    run_id: int
    status: str
    personas_completed: int
    total_personas: int
    percent: float
    message: NotRequired[str]
    cost_spent: NotRequired[str]  # decimal string, for runs that spend money
    results_url: NotRequired[str]
    stage: NotRequired[Stage]


class Reporter(Protocol):
    def progress(
        self,
        *,
        status: str,
        done: int,
        total: int,
        cost: str | None = None,
        stage: Stage | None = None,
    ) -> None: ...
    def completion(self, *, status: str, done: int, total: int) -> None: ...
    def error(self, *, message: str, done: int, total: int) -> None: ...


def run_group_name(run_id: int) -> str:
    return f"run_{run_id}"


def run_message(
    *,
    kind: Literal["progress", "completion", "error"],
    run_id: int,
    status: str,
    done: int,
    total: int,
    message: str = "",
    cost: str | None = None,
    stage: Stage | None = None,
) -> ProgressMessage:
    payload: ProgressMessage = {
        "type": kind,
        "run_id": run_id,
        "status": status,
        "personas_completed": done,
        "total_personas": total,
        "percent": round(100.0 * done / total, 1) if total else 0.0,
    }
    if message:
        payload["message"] = message
    if cost is not None:
        payload["cost_spent"] = cost
    if stage is not None:
        payload["stage"] = stage
    if kind == "completion":
        payload["results_url"] = f"/api/v1/runs/{run_id}/results/"
    return payload


class ChannelsProgressReporter:
    """Publishes a run's progress to its channel-layer group."""

    def __init__(self, run_id: int):
        self.run_id = run_id

    def _publish(self, payload: ProgressMessage) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(
                run_group_name(self.run_id), {"type": "run.event", "payload": payload}
            )
        except Exception:  # the row is the truth; a lost live message must not fail the run
            logger.warning("Could not publish progress for run %s", self.run_id, exc_info=True)

    def progress(
        self,
        *,
        status: str,
        done: int,
        total: int,
        cost: str | None = None,
        stage: Stage | None = None,
    ) -> None:
        self._publish(
            run_message(
                kind="progress",
                run_id=self.run_id,
                status=status,
                done=done,
                total=total,
                cost=cost,
                stage=stage,
                message=""
                if stage is None
                else f"Deliberation round {stage['round']} of {stage['rounds']} done",
            )
        )

    def completion(self, *, status: str, done: int, total: int) -> None:
        self._publish(
            run_message(
                kind="completion", run_id=self.run_id, status=status, done=done, total=total
            )
        )

    def error(self, *, message: str, done: int, total: int) -> None:
        self._publish(
            run_message(
                kind="error",
                run_id=self.run_id,
                status=Run.Status.FAILED.value,
                done=done,
                total=total,
                message=message,
            )
        )
