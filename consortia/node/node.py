"""One ledger node: request → verified tx → mempool → orderer → executor → store → events.

Threads: the asyncio loop serves HTTP; a pool verifies signatures (libsodium releases the GIL,
so it uses every core); one thread cuts batches and, with the solo orderer, executes them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from consortia.crypto.keys import SigningKey
from consortia.ledger.chain import Chain, Committed, decode_result
from consortia.ledger.executor import Executor
from consortia.ledger.genesis import Genesis
from consortia.ledger.module import Module
from consortia.ledger.params import read_param
from consortia.ledger.store import Store
from consortia.ledger.tx import Envelope, MalformedTx, SignedTx
from consortia.node.config import NodeConfig
from consortia.node.events import EventHub, block_event
from consortia.node.mempool import Mempool, MempoolFull
from consortia.node.metrics import NodeMetrics
from consortia.node.orderer import Orderer, SoloOrderer, now_ms

log = logging.getLogger(__name__)

_decode_signed = msgspec.msgpack.Decoder(SignedTx).decode


class SubmitError(Exception):
    """A submission refused as a whole; nothing was added."""

    def __init__(self, status: int, code: str, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.index = index


def _prepare(items: Sequence[bytes | Envelope], tx_bytes_max: int,
             ) -> list[Envelope | SubmitError]:
    """Decode and verify a chunk of submitted txs (runs in the verify pool)."""
    out: list[Envelope | SubmitError] = []
    for item in items:
        if isinstance(item, bytes):
            if len(item) > tx_bytes_max:
                out.append(SubmitError(413, "tx_too_large",
                                       f"a tx may be at most {tx_bytes_max} bytes"))
                continue
            try:
                item = Envelope.from_msgpack(item)
            except MalformedTx as exc:
                out.append(SubmitError(400, "malformed", str(exc)))
                continue
        if not item.verify_signature():
            out.append(SubmitError(400, "bad_signature",
                                   "the signature does not verify for this tx and signer"))
            continue
        out.append(item)
    return out


class Node:
    def __init__(self, config: NodeConfig, genesis: Genesis, key: SigningKey,
                 modules: list[Module], orderer: Orderer | None = None) -> None:
        self.config = config
        self.genesis = genesis
        self.key = key
        self.metrics = NodeMetrics()
        self.store = Store(config.db_path)
        self.executor = Executor(genesis.chain_id, modules)
        self.modules: dict[str, Module] = {m.name: m for m in modules}
        self.chain = Chain(self.store, genesis, self.executor, key)
        self.mempool = Mempool(config.mempool_txs_max)
        self.orderer = orderer or SoloOrderer()
        self.metrics.watch_orderer(self.orderer)
        self.hub = EventHub(config.sse_clients_max, config.sse_queue_events_max)
        self.verify_pool = ThreadPoolExecutor(config.verify_threads,
                                              thread_name_prefix="verify")
        self.failed: str | None = None
        # Called on the executor's thread after each commit; each must return at once.
        self.commit_listeners: list[Callable[[Committed], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self.metrics.height.set(self.chain.head.height)
        self.metrics.tree_size.set(self.chain.head.tree_size)

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self.config.ordering != "solo":
            self._check_node_id()
        try:
            self.orderer.start(self._deliver_ordered, self.chain.last_batch_seq())
        except Exception as exc:
            # e.g. behind the etcd window: the node serves what it has, visibly failed.
            self.failed = f"{exc.__class__.__name__}: {exc}"
            log.error("ordering did not start: %s", self.failed)
            return
        self._running.set()
        self._thread = threading.Thread(target=self._cut_loop, name="cutter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        # The orderer first: a cutter blocked writing to an unreachable etcd is released.
        self.orderer.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.verify_pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    def _cut_loop(self) -> None:
        config = self.config
        try:
            while self._running.is_set():
                batch = self.mempool.take(config.batch_txs_max, config.batch_bytes_max,
                                          config.batch_interval_ms / 1000, 0.2)
                if batch:
                    self.orderer.submit(batch)
        except Exception as exc:
            if not self._running.is_set():
                return  # stopping: the orderer refused the last batch, which stays unordered
            if self.failed is None:  # else _deliver_ordered said why already
                self.failed = f"{exc.__class__.__name__}: {exc}"
                log.exception("node stopped executing")

    def _deliver_ordered(self, batch_seq: int, time_ms: int,
                         items: list[Envelope | bytes]) -> None:
        try:
            self._deliver(batch_seq, time_ms, items)
        except Exception as exc:
            # A node that cannot store a block must stop taking work, visibly.
            self.failed = f"{exc.__class__.__name__}: {exc}"
            log.exception("node stopped executing")
            raise

    def _deliver(self, batch_seq: int, time_ms: int, items: list[Envelope | bytes]) -> None:
        started = time.perf_counter()
        txs = [self._envelope(item) for item in items]
        committed = self.chain.apply_batch(batch_seq, time_ms, txs)
        self.mempool.forget([e for e in txs if isinstance(e, Envelope)])
        self.metrics.mempool_txs.set(len(self.mempool))
        if committed is None:
            self.metrics.txs_dropped.inc(len(txs))
            return
        self._record(committed, len(txs), time.perf_counter() - started)
        for listener in self.commit_listeners:
            listener(committed)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_commit, committed)

    @staticmethod
    def _envelope(item: Envelope | bytes) -> Envelope | bytes:
        """A tx of an ordered batch, decoded once here so that the mempool can forget it by
        id (the executor checks its signature). This node's own batches come back from the
        orderer as the envelopes it checked already."""
        if isinstance(item, Envelope):
            return item
        try:
            return Envelope.from_msgpack(item)
        except MalformedTx:
            return item  # the executor drops it, as every node does

    def _record(self, committed: Committed, ordered: int, seconds: float) -> None:
        m = self.metrics
        block = committed.block
        accepted = sum(1 for r in block.results if r.accepted)
        m.txs_committed.labels("accepted").inc(accepted)
        m.txs_committed.labels("rejected").inc(len(block.results) - accepted)
        m.txs_dropped.inc(ordered - len(block.results))
        m.blocks.inc()
        m.height.set(block.height)
        m.tree_size.set(block.tree_size)
        m.block_seconds.observe(seconds)
        m.block_txs.observe(len(block.results))

    def _on_commit(self, committed: Committed) -> None:
        block = committed.block
        self.hub.publish(block_event(block.height, block.time_ms, block.tree_size,
                                     block.root_hash, block.tx_ids,
                                     sum(1 for r in block.results if not r.accepted)))
        for tx_id in block.tx_ids:
            for future in self._waiters.pop(tx_id, ()):
                if not future.done():
                    future.set_result(None)

    # -- submitting ------------------------------------------------------------------------

    async def submit(self, items: Sequence[bytes | Envelope]) -> list[dict[str, str]]:
        """Check and enqueue txs, all or none. Returns each tx's id and status
        ("pending" or, for a tx already executed, "committed")."""
        if self.failed is not None:
            raise SubmitError(503, "node_failed", "this node has stopped executing")
        if self.config.ordering != "solo" and not self.admitted():
            raise SubmitError(403, "node_not_admitted",
                              "this node is not an active node of the consortium: it follows "
                              "the ledger but may not order txs")
        loop = asyncio.get_running_loop()
        threads = self.config.verify_threads
        chunk = max(64, -(-len(items) // threads))
        futures = [
            loop.run_in_executor(self.verify_pool, _prepare, items[i:i + chunk],
                                 self.config.tx_bytes_max)
            for i in range(0, len(items), chunk)
        ]
        prepared = [e for part in await asyncio.gather(*futures) for e in part]
        now = now_ms()
        validity_ms_max: int = read_param(self.chain.state, "tx_validity_ms_max")
        fresh: list[Envelope] = []
        out: list[dict[str, str]] = []
        for index, item in enumerate(prepared):
            if isinstance(item, SubmitError):
                item.index = index
                self.metrics.submit_refused.labels(item.code).inc()
                raise item
            problem = self._check(item, now, validity_ms_max)
            if problem is not None:
                code, message = problem
                self.metrics.submit_refused.labels(code).inc()
                raise SubmitError(400, code, message, index)
            if item.tx_id in self.chain.recent:
                out.append({"tx_id": item.tx_id.hex(), "status": "committed"})
            else:
                out.append({"tx_id": item.tx_id.hex(), "status": "pending"})
                fresh.append(item)
        try:
            self.mempool.add_all(fresh)
        except MempoolFull as exc:
            self.metrics.submit_refused.labels("mempool_full").inc()
            raise SubmitError(503, "mempool_full", f"{exc}; retry later") from None
        self.metrics.mempool_txs.set(len(self.mempool))
        return out

    def _check(self, envelope: Envelope, now: int, validity_ms_max: int,
               ) -> tuple[str, str] | None:
        tx = envelope.tx
        if tx.chain_id != self.chain_id:
            return "wrong_chain", f"tx is for chain {tx.chain_id!r}, this is {self.chain_id!r}"
        if tx.kind not in self.executor.actions:
            return "unknown_kind", f"no action {tx.kind!r} on this chain"
        if tx.valid_until_ms < now:
            return "expired", f"tx expired at {tx.valid_until_ms} ms; it is now {now} ms"
        if tx.valid_until_ms - now > validity_ms_max:
            return "validity_too_long", (f"valid_until_ms may be at most {validity_ms_max} ms "
                                         "in the future")
        return None

    async def wait_committed(self, tx_ids: list[bytes], timeout_s: float) -> bool:
        """Wait until every tx in ``tx_ids`` is executed; False on timeout."""
        loop = asyncio.get_running_loop()
        if len(self._waiters) + len(tx_ids) > self.config.waiters_max:
            raise SubmitError(503, "too_many_waiters", "too many clients are waiting; poll")
        waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        recent = self.chain.recent
        for tx_id in tx_ids:
            # Executed ids are in memory while unexpired; SQLite knows the rest.
            if tx_id in recent or (tx_id not in self.mempool and self.store.has_tx(tx_id)):
                continue
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(tx_id, []).append(future)
            waiting.append((tx_id, future))
        if not waiting:
            return True
        _, pending = await asyncio.wait([f for _, f in waiting], timeout=timeout_s)
        for tx_id, future in waiting:
            if future in pending:
                futures = self._waiters.get(tx_id, [])
                if future in futures:
                    futures.remove(future)
                if not futures:
                    self._waiters.pop(tx_id, None)
        return not pending

    # -- reading ---------------------------------------------------------------------------

    def _check_node_id(self) -> None:
        """The etcd window waits for each active node by its governance id: a config whose
        node_id differs would hold the window back until its cap."""
        ids = self._own_node_ids()
        if ids and self.config.node_id not in ids:
            log.warning("node_id %r is not this key's node id in governance (%s): set node_id "
                        "= %r", self.config.node_id, ", ".join(ids), ids[0])
        elif not ids:
            log.warning("at height %d this node's key is not an active node in governance: "
                        "until the ledger admits it, it follows and refuses submissions",
                        self.chain.head.height)

    def _own_node_ids(self) -> list[str]:
        """The ids under which governance lists this node's key as an active node."""
        from consortia.modules.governance.queries import nodes

        own = self.key.public_key_hex
        return [n.id for n in nodes(self.chain.state) if n.key == own and n.status == "active"]

    def admitted(self) -> bool:
        """Whether governance lists this node's key as an active node."""
        return bool(self._own_node_ids())

    def is_private(self, kind: str) -> bool:
        """Whether txs of ``kind`` are private: their content is shown only to those allowed."""
        module = self.modules.get(kind.split(".", 1)[0])
        return bool(getattr(module, "private", False))

    def may_view(self, stx: SignedTx, viewer: str | None) -> bool:
        """The signer, the regulator, and whom the module allows see a private tx."""
        if not self.is_private(stx.tx.kind):
            return True
        if viewer is None:
            return False
        if viewer == stx.tx.signer:
            return True
        from consortia.modules.governance.logic import active_member_of

        member = active_member_of(self.chain.state, viewer)
        if member is not None and member.role == "regulator":
            return True
        module = self.modules[stx.tx.kind.split(".", 1)[0]]
        allowed: bool = module.may_view(self.chain.state, stx.tx, viewer)  # type: ignore[attr-defined]
        return allowed

    def tx_status(self, tx_id: bytes, viewer: str | None = None) -> dict[str, Any] | None:
        """A tx's status; a private tx's content only for ``viewer`` keys allowed to see it."""
        row = self.store.tx(tx_id)
        if row is not None:
            result = decode_result(row.result)
            stx = _decode_signed(row.raw)
            if not self.may_view(stx, viewer):
                return {
                    "tx_id": tx_id.hex(), "status": "committed", "height": row.height,
                    "leaf_index": row.leaf_index, "redacted": True,
                    "result": {"status": result.status, "code": result.code,
                               "kind": result.kind, "height": result.height,
                               "time_ms": result.time_ms},
                }
            return {
                "tx_id": tx_id.hex(),
                "status": "committed",
                "height": row.height,
                "leaf_index": row.leaf_index,
                "result": result.to_json_dict(),
                "tx": msgspec.to_builtins(stx),
            }
        if tx_id in self.mempool:
            return {"tx_id": tx_id.hex(), "status": "pending"}
        return None
