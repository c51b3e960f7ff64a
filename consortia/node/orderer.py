"""Orderers put batches in one total order. ``SoloOrderer`` is the embedded one-node default."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from consortia.ledger.tx import Envelope

# Called with (batch_seq, proposed_time_ms, items) in order, exactly once per batch. Items are
# envelopes this node verified, or raw signed txs as another node's batch carried them.
Deliver = Callable[[int, int, list[Envelope | bytes]], None]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Orderer(Protocol):
    def start(self, deliver: Deliver, after_seq: int) -> None: ...

    def submit(self, txs: list[Envelope]) -> None: ...

    def stop(self) -> None: ...


class SoloOrderer:
    """Orders in-process: the caller's submission order is the order."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._seq = 0

    def start(self, deliver: Deliver, after_seq: int) -> None:
        self._deliver = deliver
        self._seq = after_seq

    def submit(self, txs: list[Envelope]) -> None:
        if self._deliver is None:
            raise RuntimeError("the orderer is stopped")
        self._seq += 1
        self._deliver(self._seq, now_ms(), list(txs))

    def stop(self) -> None:
        self._deliver = None
