"""Audit a node's store: re-execute every stored block from genesis and compare.

Recomputes each tx's result and leaf, each block's tree head, and the final state, and checks
them (and each tx's stored kind, signer and expiry) against what the node stored: a store that
passes was produced by executing its own blocks, and nothing that had a receipt was lost.
"""

from __future__ import annotations

from typing import NamedTuple

from consortia.crypto.keys import verify
from consortia.crypto.merkle import MerkleTree, leaf_hash
from consortia.ledger.block import Block
from consortia.ledger.chain import decode_result
from consortia.ledger.executor import Executor
from consortia.ledger.genesis import Genesis
from consortia.ledger.receipts import sth_message
from consortia.ledger.result import leaf_data
from consortia.ledger.state import Overlay, State
from consortia.ledger.store import Store
from consortia.ledger.tx import Envelope


class ReplayReport(NamedTuple):
    blocks: int
    txs: int
    state_keys: int


class ReplayError(RuntimeError):
    """The store disagrees with a re-execution of its own blocks."""


def replay(store: Store, genesis: Genesis, executor: Executor, node_key: bytes) -> ReplayReport:
    state = State()
    overlay = Overlay(state)
    executor.genesis(overlay, genesis)
    overlay.merge_into_base()
    tree = MerkleTree()
    head = store.head()
    if head is None:
        raise ReplayError("the store holds no blocks")
    genesis_row = store.block(0)
    if genesis_row is None or genesis_row.hash != genesis.digest():
        raise ReplayError("block 0 is not this genesis")
    prev_hash = genesis_row.hash
    txs = 0
    for height in range(1, head.height + 1):
        row = store.block(height)
        if row is None:
            raise ReplayError(f"block {height} is missing")
        if row.prev_hash != prev_hash:
            raise ReplayError(f"block {height} does not link to block {height - 1}")
        stored = store.txs_of_block(height, limit=row.tx_count + 1)
        if len(stored) != row.tx_count:
            raise ReplayError(f"block {height} has {len(stored)} txs, header says "
                              f"{row.tx_count}")
        block_overlay = Overlay(state)
        items: list[Envelope | bytes] = [t.raw for t in stored]
        batch = executor.execute(block_overlay, items, height=height, time_ms=row.time_ms,
                                 seed=prev_hash, already_executed=lambda _i, _v: False)
        if len(batch.executed) != len(stored):
            raise ReplayError(f"block {height}: re-execution kept {len(batch.executed)} of "
                              f"{len(stored)} txs")
        for t, e in zip(stored, batch.executed, strict=True):
            tx = e.envelope.tx
            # Statements, the dedupe window and the explorer read these columns, not the raw tx.
            if (t.kind, t.signer, t.valid_until_ms) != (tx.kind, tx.signer, tx.valid_until_ms):
                raise ReplayError(f"tx {t.tx_id.hex()}: stored kind, signer or expiry differ "
                                  "from the signed tx")
            h = leaf_hash(leaf_data(e.envelope.tx_id, e.result))
            if (e.envelope.tx_id != t.tx_id or h != t.leaf_hash
                    or decode_result(t.result) != e.result or t.status != e.result.status):
                raise ReplayError(f"tx {t.tx_id.hex()} re-executes to a different result")
            tree.append_leaf_hash(h)
        if tree.size != row.tree_size or tree.root() != row.root_hash:
            raise ReplayError(f"block {height}: tree head differs from re-execution")
        block = Block(height, prev_hash, row.time_ms, row.batch_seq,
                      [e.envelope.tx_id for e in batch.executed],
                      [e.result for e in batch.executed], tree.size, tree.root())
        if block.header_hash() != row.hash:
            raise ReplayError(f"block {height}: block hash differs from re-execution")
        if not verify(node_key, sth_message(row.tree_size, row.root_hash, height, row.time_ms),
                      row.sth_signature):
            raise ReplayError(f"block {height}: tree head signature is invalid")
        block_overlay.merge_into_base()
        prev_hash = row.hash
        txs += len(stored)
    stored_state = dict(store.state_items())
    if stored_state != state.items:
        differing = sorted(set(stored_state) ^ set(state.items)) or sorted(
            k for k in state.items if stored_state.get(k) != state.items[k])
        raise ReplayError(f"state differs from re-execution at {differing[:3]}")
    return ReplayReport(head.height, txs, len(state.items))
