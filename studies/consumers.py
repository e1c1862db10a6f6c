"""WebSocket relay of a run's progress: authenticate, send the stored state, join the group, relay."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from studies.progress import run_group_name, run_message
from studies.selectors import run_snapshot


class RunProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.group = run_group_name(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        snapshot = await database_sync_to_async(run_snapshot)(run_id=self.run_id)
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
