"""Batches (what the orderer orders) and blocks (what the executor made of a batch)."""

from __future__ import annotations

import msgspec

from consortia.crypto.hashing import sha256
from consortia.ledger.result import TxResult

BLOCK_DOMAIN = b"consortia/block/v1"


class Batch(msgspec.Struct, frozen=True):
    """An ordered list of raw signed txs with the time the orderer proposes for them."""

    seq: int
    time_ms: int
    txs: list[bytes]


class Block(msgspec.Struct, frozen=True):
    """One executed batch. Duplicates of already executed txs are left out of ``tx_ids``.

    ``time_ms`` is ``max(previous block time, batch time)``, so block time never goes back.
    """

    height: int
    prev_hash: bytes
    time_ms: int
    batch_seq: int
    tx_ids: list[bytes]
    results: list[TxResult]
    tree_size: int
    root_hash: bytes

    def header_hash(self) -> bytes:
        """SHA-256 over the block's header fields and its tx ids; results are committed to
        by ``root_hash``, whose leaves carry each result's digest."""
        return sha256(
            BLOCK_DOMAIN,
            msgspec.msgpack.encode(
                [self.height, self.prev_hash, self.time_ms, self.batch_seq, self.tree_size,
                 self.root_hash, self.tx_ids]
            ),
        )
