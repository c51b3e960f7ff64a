"""The chain of one node: genesis, executed blocks, the Merkle log, tree heads and receipts."""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import msgspec

from consortia.crypto.keys import SigningKey
from consortia.crypto.merkle import EMPTY_ROOT, MerkleTree, ProofError, leaf_hash
from consortia.ledger.block import Block
from consortia.ledger.executor import Executor
from consortia.ledger.genesis import Genesis
from consortia.ledger.receipts import SignedTreeHead, sign_tree_head
from consortia.ledger.result import TxResult, leaf_data
from consortia.ledger.state import Overlay, State
from consortia.ledger.store import BlockRow, Store, TxRow
from consortia.ledger.tx import Envelope

ZERO_HASH = bytes(32)
# Forget executed tx ids past their expiry every this many blocks (expired txs are then
# recognised by a lookup in SQLite instead).
PRUNE_EVERY_BLOCKS = 64

_decode_result = msgspec.msgpack.Decoder(TxResult).decode
_encode = msgspec.msgpack.Encoder().encode


class ChainError(RuntimeError):
    """The store does not belong to this genesis, or the chain cannot go on."""


class Committed(NamedTuple):
    block: Block
    sth: SignedTreeHead
    executed: list[Envelope]


def sth_of(row: BlockRow, node_key: bytes) -> SignedTreeHead:
    return SignedTreeHead(row.tree_size, row.root_hash, row.height, row.time_ms,
                          row.sth_signature, node_key)


class Chain:
    def __init__(self, store: Store, genesis: Genesis, executor: Executor,
                 node_key: SigningKey) -> None:
        self.store = store
        self.genesis = genesis
        self.executor = executor
        self.node_key = node_key
        self.state = State()
        # Guards the tree: the executor appends while API threads build proofs.
        self._tree_lock = threading.Lock()
        # Executed tx ids that are not yet expired -> valid_until_ms: the dedupe window.
        self.recent: dict[bytes, int] = {}
        head = store.head()
        if head is None:
            self.tree = MerkleTree()
            self.head = self._init_genesis()
        else:
            self.head = self._load(head)
        self.sth = sth_of(self.head, node_key.public_key)

    # -- start-up --------------------------------------------------------------------------

    def _init_genesis(self) -> BlockRow:
        g = self.genesis
        overlay = Overlay(self.state)
        self.executor.genesis(overlay, g)
        sth = sign_tree_head(self.node_key, 0, EMPTY_ROOT, 0, g.time_ms)
        row = BlockRow(0, g.digest(), ZERO_HASH, g.time_ms, 0, 0, EMPTY_ROOT, sth.signature, 0,
                       0)
        self.store.commit_block(row, [], overlay.writes, {"genesis": g.to_json()})
        self.state.apply(overlay.writes)
        return row

    def _load(self, head: BlockRow) -> BlockRow:
        stored = self.store.meta("genesis")
        if stored is None or msgspec.json.decode(stored, type=Genesis) != self.genesis:
            raise ChainError(f"{self.store.path} holds another chain's data (genesis differs)")
        self.state = State(dict(self.store.state_items()))
        self.tree = MerkleTree(self.store.leaf_hashes())
        if self.tree.size != head.tree_size or self.tree.root() != head.root_hash:
            raise ChainError("stored leaves do not match the last block's tree head")
        self.recent = dict(self.store.unexpired_tx_ids(head.time_ms))
        return head

    # -- executing -------------------------------------------------------------------------

    def apply_batch(self, batch_seq: int, proposed_time_ms: int,
                    items: list[Envelope | bytes]) -> Committed | None:
        """Execute one ordered batch, store it as a block, sign its tree head.

        Returns None when nothing in the batch was executed (all duplicates or dropped).
        """
        head = self.head
        height = head.height + 1
        time_ms = max(head.time_ms, proposed_time_ms)
        recent = self.recent
        store = self.store

        def already_executed(tx_id: bytes, valid_until_ms: int) -> bool:
            if tx_id in recent:
                return True
            # Expired ids may have left the window; SQLite still knows them.
            return valid_until_ms < time_ms and store.has_tx(tx_id)

        overlay = Overlay(self.state)
        batch = self.executor.execute(overlay, items, height=height, time_ms=time_ms,
                                      seed=head.hash, already_executed=already_executed)
        if not batch.executed:
            return None
        leaves = [leaf_hash(leaf_data(e.envelope.tx_id, e.result)) for e in batch.executed]
        with self._tree_lock:
            first_leaf = self.tree.size
            for h in leaves:
                self.tree.append_leaf_hash(h)
            tree_size = self.tree.size
            root = self.tree.root()
        block = Block(height, head.hash, time_ms, batch_seq,
                      [e.envelope.tx_id for e in batch.executed],
                      [e.result for e in batch.executed], tree_size, root)
        sth = sign_tree_head(self.node_key, tree_size, root, height, time_ms)
        row = BlockRow(height, block.header_hash(), head.hash, time_ms, batch_seq, tree_size,
                       root, sth.signature, len(batch.executed), batch.dropped)
        tx_rows = [
            TxRow(first_leaf + i, e.envelope.tx_id, height, e.envelope.tx.kind,
                  e.envelope.tx.signer, e.result.status, e.envelope.tx.valid_until_ms,
                  leaves[i], e.envelope.raw, _encode(e.result))
            for i, e in enumerate(batch.executed)
        ]
        store.commit_block(row, tx_rows, overlay.writes,
                           {"batch_seq": batch_seq.to_bytes(8, "big")})
        self.state.apply(overlay.writes)
        for e in batch.executed:
            recent[e.envelope.tx_id] = e.envelope.tx.valid_until_ms
        if height % PRUNE_EVERY_BLOCKS == 0:
            self.recent = {k: v for k, v in recent.items() if v >= time_ms}
        self.head = row
        self.sth = sth
        return Committed(block, sth, [e.envelope for e in batch.executed])

    # -- reading ---------------------------------------------------------------------------

    def last_batch_seq(self) -> int:
        raw = self.store.meta("batch_seq")
        return 0 if raw is None else int.from_bytes(raw, "big")

    def sth_at(self, height: int) -> SignedTreeHead | None:
        row = self.store.block(height)
        return None if row is None else sth_of(row, self.node_key.public_key)

    def receipt(self, tx_id: bytes) -> dict[str, Any] | None:
        """The receipt of an executed tx against the latest signed tree head."""
        sth = self.sth
        row = self.store.tx(tx_id)
        if row is None:
            return None
        if row.leaf_index >= sth.tree_size:
            # Stored an instant ago, before self.sth moved on: the tx's own block was committed
            # in the same SQLite transaction as its row, with its signed tree head.
            block_sth = self.sth_at(row.height)
            assert block_sth is not None, row.height
            sth = block_sth
        result = _decode_result(row.result)
        with self._tree_lock:
            path = self.tree.inclusion_proof(row.leaf_index, sth.tree_size)
        return {
            "tx_id": tx_id.hex(),
            "leaf": leaf_data(tx_id, result).hex(),
            "leaf_index": row.leaf_index,
            "tree_size": sth.tree_size,
            "audit_path": [p.hex() for p in path],
            "root_hash": sth.root_hash.hex(),
            "signed_tree_head": sth.to_json_dict(),
            "result": result.to_json_dict(),
        }

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes this node has signed."""
        if not 0 <= first <= second <= self.sth.tree_size:
            raise ProofError(f"need 0 <= first <= second <= {self.sth.tree_size}")
        with self._tree_lock:
            return self.tree.consistency_proof(first, second)


def decode_result(raw: bytes) -> TxResult:
    return _decode_result(raw)
