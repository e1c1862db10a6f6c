"""WebSocket relay of a run's progress: authenticate, send the stored state, join the group, relay."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from studies.progress import run_group_name, run_message
from studies.selectors import run_list, run_snapshot


def _may_follow(user, run_id: int) -> bool:
    return run_list(user=user).filter(id=run_id).exists()


class RunProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        # Another user's run is reported exactly like a missing one (4404), so a socket cannot
        # tell which run ids exist, let alone follow them.
        snapshot = None
        if await database_sync_to_async(_may_follow)(user, self.run_id):
            # Join before reading the stored state, so no event falls between the two.
            self.group = run_group_name(self.run_id)
            await self.channel_layer.group_add(self.group, self.channel_name)
            snapshot = await database_sync_to_async(run_snapshot)(run_id=self.run_id)
        await self.accept()
        if snapshot is None:
            await self.send_json(
                {
                    "type": "error",
                    "run_id": self.run_id,
                    "message": f"Run {self.run_id} does not exist.",
                }
            )
            await self.close(code=4404)
            return
        await self.send_json(snapshot)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def run_event(self, event):
        await self.send_json(event["payload"])


__all__ = ["RunProgressConsumer", "run_message"]
