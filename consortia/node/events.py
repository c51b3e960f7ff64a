"""Event stream: committed blocks fanned out to server-sent-event subscribers.

Each subscriber has a bounded queue; one that falls behind is told so and dropped rather than
letting memory grow.
"""

from __future__ import annotations

import asyncio
from typing import Any

OVERFLOW = {"type": "overflow", "message": "subscriber fell behind; reconnect"}


def block_event(height: int, time_ms: int, tree_size: int, root_hash: bytes,
                tx_ids: list[bytes], rejected: int) -> dict[str, Any]:
    """The ``block`` event: live from the executor, or replayed from the store on resume."""
    return {"type": "block", "height": height, "time_ms": time_ms, "tree_size": tree_size,
            "root_hash": root_hash.hex(), "tx_ids": [t.hex() for t in tx_ids],
            "rejected": rejected}


class EventHub:
    def __init__(self, clients_max: int, queue_events_max: int) -> None:
        self.clients_max = clients_max
        self.queue_events_max = queue_events_max
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()

    @property
    def clients(self) -> int:
        return len(self._queues)

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None] | None:
        """A new subscription, or None when the node has as many as it allows."""
        if len(self._queues) >= self.clients_max:
            return None
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self.queue_events_max)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._queues.discard(queue)

    def publish(self, event: dict[str, Any]) -> None:
        """Called on the event loop."""
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._queues.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(OVERFLOW)
                queue.put_nowait(None)
