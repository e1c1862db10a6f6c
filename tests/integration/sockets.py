"""What the integration tests read from a run's WebSocket."""

from __future__ import annotations

import asyncio
import json

import websockets


async def run_messages(url: str, origin: str, timeout: float = 120) -> list[dict]:
    """Every message a run's socket sends, up to and including its completion or error."""
    messages: list[dict] = []
    async with websockets.connect(url, origin=origin, open_timeout=10) as socket:
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await socket.recv())
                messages.append(message)
                if message["type"] in ("completion", "error"):
                    return messages
