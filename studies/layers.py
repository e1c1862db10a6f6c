"""The embedded default's channel layer.

With no Redis, runs execute on a background thread of the web process (see `studies.dispatch`) and
their progress reaches the browser through Channels' in-memory layer. That layer's queues belong to
the server's event loop, and waking a waiting consumer from another thread's loop is not safe, so
this subclass hands every send that comes from a foreign loop to the server loop that owns the
consumers. One process only, by design: the embedded default is one process.
"""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer


class ThreadSafeInMemoryChannelLayer(InMemoryChannelLayer):
    _owner_loop: asyncio.AbstractEventLoop | None = None

    def _remember_loop(self) -> None:
        self._owner_loop = asyncio.get_running_loop()

    async def receive(self, channel):
        self._remember_loop()
        return await super().receive(channel)

    async def group_add(self, group, channel):
        self._remember_loop()
        await super().group_add(group, channel)

    def _foreign_owner(self) -> asyncio.AbstractEventLoop | None:
        owner = self._owner_loop
        if owner is None or owner.is_closed() or not owner.is_running():
            return None
        return owner if owner is not asyncio.get_running_loop() else None

    async def send(self, channel, message):
        owner = self._foreign_owner()
        if owner is None:
            return await super().send(channel, message)
        future = asyncio.run_coroutine_threadsafe(super().send(channel, message), owner)
        return await asyncio.wrap_future(future)

    async def group_send(self, group, message):
        owner = self._foreign_owner()
        if owner is None:
            return await super().group_send(group, message)
        future = asyncio.run_coroutine_threadsafe(super().group_send(group, message), owner)
        return await asyncio.wrap_future(future)
