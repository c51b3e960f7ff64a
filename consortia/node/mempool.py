"""A bounded mempool of verified transactions, cut into batches by count, bytes and time."""

from __future__ import annotations

import threading
import time
from collections import deque

from consortia.ledger.tx import Envelope


class MempoolFull(Exception):
    """No room for the submitted transactions; nothing was added."""


class Mempool:
    def __init__(self, txs_max: int) -> None:
        self.txs_max = txs_max
        self._queue: deque[Envelope] = deque()
        self._ids: set[bytes] = set()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self._queue)

    def __contains__(self, tx_id: bytes) -> bool:
        return tx_id in self._ids

    def add_all(self, envelopes: list[Envelope]) -> int:
        """Add every envelope not already pending, or none when they do not all fit."""
        with self._cond:
            fresh: list[Envelope] = []
            for e in envelopes:
                if e.tx_id not in self._ids:
                    self._ids.add(e.tx_id)
                    fresh.append(e)
            if len(self._queue) + len(fresh) > self.txs_max:
                self._ids.difference_update(e.tx_id for e in fresh)
                raise MempoolFull(f"mempool holds {len(self._queue)} of {self.txs_max} txs")
            self._queue.extend(fresh)
            if fresh:
                self._cond.notify()
            return len(fresh)

    def take(self, txs_max: int, bytes_max: int, interval_s: float,
             idle_wait_s: float) -> list[Envelope]:
        """The next batch: as soon as ``txs_max`` are pending, or ``interval_s`` after the first
        tx arrived, at most ``txs_max`` txs and ``bytes_max`` bytes. Empty after ``idle_wait_s``
        with nothing pending."""
        with self._cond:
            if not self._queue and not self._cond.wait(idle_wait_s):
                return []
            deadline = time.monotonic() + interval_s
            while len(self._queue) < txs_max:
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    break
            batch: list[Envelope] = []
            size = 0
            while self._queue and len(batch) < txs_max:
                nxt = len(self._queue[0].raw)
                if batch and size + nxt > bytes_max:
                    break
                e = self._queue.popleft()
                batch.append(e)
                size += nxt
            return batch

    def forget(self, envelopes: list[Envelope]) -> None:
        """Drop ids of txs that have been executed (or dropped) from the pending set."""
        with self._cond:
            for e in envelopes:
                self._ids.discard(e.tx_id)
