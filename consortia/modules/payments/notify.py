"""Merchant events: committed payments, refunds and orders as a merchant's page and webhooks see
them.

Flow: the node's executor hands every committed block to ``Notifier.on_commit`` (a bounded
hand-off that never blocks it); the ``notify`` thread derives the block's merchant events from
the executed txs and committed state, stores them with the webhook deliveries they cause and
the block height as cursor in one SQLite transaction, then has the event loop fan them out to
the merchants' SSE subscribers and wake the delivery worker. Storing before publishing is what
lets a reconnecting page resume from the store without a gap.

A block that could not be handed off (queue full), or that was committed while the node ran
without this thread, is caught up from the ledger's store by the cursor, so webhooks see every
event at least once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

import msgspec

from consortia.ledger.chain import Committed, decode_result
from consortia.ledger.result import TxResult
from consortia.ledger.state import Reader
from consortia.ledger.tx import SignedTx
from consortia.modules.currency.amounts import format_amount
from consortia.modules.payments import queries
from consortia.modules.payments.types import Order, Payment, order_key, payment_key
from consortia.modules.payments.webhooks import (
    STORE_FILE,
    DeliveryWorker,
    NotificationStore,
    StoredEvent,
    now_ms,
)
from consortia.node.node import Node

log = logging.getLogger(__name__)

PAYMENT = "payment"
REFUND = "refund"
ORDER_CREATED = "order_created"
ORDER_CANCELLED = "order_cancelled"
EVENT_KINDS = frozenset({"payments.pay", "payments.charge_cpm", "payments.refund",
                         "payments.create_order", "payments.cancel_order"})
# Committed blocks waiting for the notify thread; past this, blocks are caught up from the store.
BLOCKS_QUEUED_MAX = 1_024
# The most ledger txs read back to catch up (after a restart or a full queue); older ones are
# skipped with a warning rather than holding their raw bytes in memory at once.
CATCH_UP_TXS_MAX = 50_000
# The cursor is saved with every block that has events, and at least this often without.
CURSOR_SAVE_BLOCKS = 64
PRUNE_EVERY_BLOCKS = 1_024

_decode_signed = msgspec.msgpack.Decoder(SignedTx).decode
_encode = msgspec.json.Encoder().encode

# (tx id, kind, payload, result) of one executed tx
TxItem = tuple[bytes, str, dict[str, Any], TxResult]
# (block height, SSE text) for a subscriber; height -1 for the overflow notice; None: the end
HubItem = tuple[int, str] | None


class MerchantEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a merchant is told. Every field is always present (null where it does not apply),
    so a receiver has one shape to parse."""

    id: str  # "<tx id>:<type>": the same however often it is delivered
    type: str  # payment | refund | order_created | order_cancelled
    merchant_id: str
    height: int
    time_ms: int  # block time
    tx_id: str
    payment_id: str | None
    order_id: str | None
    amount: str  # in the currency's major unit, as the API shows amounts ("18.80")
    amount_minor: int
    currency: str
    payer_wallet: str | None
    via: str | None  # a payment's "mpm" (payer scanned) or "cpm" (terminal scanned)
    reason: str | None  # a refund's


def events_of_block(state: Reader, items: Iterable[TxItem]) -> list[MerchantEvent]:
    """The merchant events of a block's executed txs, in block order.

    Reads only what committed txs wrote and no later tx changes (a payment's amount, payer and
    order; a refund; an order's amount), so any later state gives the same events.
    """
    out: list[MerchantEvent] = []
    exponents: dict[str, int] = {}

    def money(minor: int, currency: str) -> str:
        if currency not in exponents:
            exponents[currency] = queries.exponent_of(state, currency)
        return format_amount(minor, exponents[currency])

    for tx_id_bytes, kind, payload, result in items:
        if not result.accepted or kind not in EVENT_KINDS:
            continue
        tx_id = tx_id_bytes.hex()
        if kind in ("payments.pay", "payments.charge_cpm"):
            p = state.get(payment_key(result.data["payment"]), Payment)
            assert p is not None, tx_id  # an accepted payment recorded itself
            out.append(MerchantEvent(
                f"{tx_id}:{PAYMENT}", PAYMENT, p.merchant_id, result.height, result.time_ms,
                tx_id, p.id, p.order_id or None, money(p.amount_minor, p.currency),
                p.amount_minor, p.currency, p.payer_wallet, p.via, None))
        elif kind == "payments.refund":
            p = state.get(payment_key(result.data["payment"]), Payment)
            assert p is not None, tx_id
            refund = next((r for r in queries.refunds(state, p.id) if r.id == tx_id), None)
            assert refund is not None, tx_id  # an accepted refund recorded itself
            out.append(MerchantEvent(
                f"{tx_id}:{REFUND}", REFUND, p.merchant_id, result.height, result.time_ms,
                tx_id, p.id, p.order_id or None, money(refund.amount_minor, p.currency),
                refund.amount_minor, p.currency, p.payer_wallet, None, refund.reason))
        else:
            o = state.get(order_key(payload["merchant_id"], payload["order_id"]), Order)
            assert o is not None, tx_id  # orders are never deleted
            kind_type = ORDER_CREATED if kind == "payments.create_order" else ORDER_CANCELLED
            out.append(MerchantEvent(
                f"{tx_id}:{kind_type}", kind_type, o.merchant_id, result.height,
                result.time_ms, tx_id, None, o.order_id, money(o.amount_minor, o.currency),
                o.amount_minor, o.currency, None, None, None))
    return out


def overflow_text(message: str) -> str:
    """The SSE notice that a stream ends because its reader is too far behind."""
    return f"event: overflow\ndata: {json.dumps({'type': 'overflow', 'message': message})}\n\n"


OVERFLOW_TEXT = overflow_text("subscriber fell behind; reconnect with Last-Event-ID")


def stored(event: MerchantEvent) -> StoredEvent:
    return StoredEvent(event.id, event.type, event.merchant_id, event.height, event.time_ms,
                       _encode(event))


def sse_text(events: Sequence[StoredEvent]) -> str:
    """Server-sent events of one block's events for one merchant. Only the last carries the
    block height as its id: a client cut off inside a block resumes from the block before, and
    deduplicates the repeats by event id."""
    assert events and len({e.height for e in events}) == 1
    parts = [f"event: {e.type}\ndata: {e.body.decode()}\n\n" for e in events]
    parts[-1] = parts[-1][:-1] + f"id: {events[-1].height}\n\n"
    return "".join(parts)


def sse_blocks(events: Sequence[StoredEvent]) -> list[tuple[int, str]]:
    """Stored events grouped by block (height, SSE text), in order."""
    return [(height, sse_text(list(group)))
            for height, group in groupby(events, key=lambda e: e.height)]


class MerchantHub:
    """SSE subscribers by merchant, each with a bounded queue; one that falls behind is told so
    and dropped (the rule of the node's EventHub)."""

    def __init__(self, clients_max: int, queue_items_max: int) -> None:
        self.clients_max = clients_max
        self.queue_items_max = queue_items_max
        self._queues: dict[str, set[asyncio.Queue[HubItem]]] = {}
        self.clients = 0

    def subscribe(self, merchant_id: str) -> asyncio.Queue[HubItem] | None:
        """A new subscription, or None when the node serves as many as it allows."""
        if self.clients >= self.clients_max:
            return None
        q: asyncio.Queue[HubItem] = asyncio.Queue(self.queue_items_max)
        self._queues.setdefault(merchant_id, set()).add(q)
        self.clients += 1
        return q

    def unsubscribe(self, merchant_id: str, q: asyncio.Queue[HubItem]) -> None:
        subscribers = self._queues.get(merchant_id)
        if subscribers is not None and q in subscribers:
            subscribers.discard(q)
            self.clients -= 1
            if not subscribers:
                del self._queues[merchant_id]

    def publish(self, merchant_id: str, item: tuple[int, str]) -> None:
        """Called on the event loop."""
        for q in list(self._queues.get(merchant_id, ())):
            try:
                q.put_nowait(item)
            except asyncio.QueueFull:
                self.unsubscribe(merchant_id, q)
                while not q.empty():
                    q.get_nowait()
                q.put_nowait((-1, OVERFLOW_TEXT))
                q.put_nowait(None)

    def close(self) -> None:
        for merchant_id, subscribers in list(self._queues.items()):
            for q in list(subscribers):
                self.unsubscribe(merchant_id, q)
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)


class Notifier:
    """Merchant events of one node: derived, stored, streamed, and sent to webhooks."""

    def __init__(self, node: Node) -> None:
        config = node.config
        self.node = node
        self.events_kept_ms = config.merchant_events_kept_ms
        self.queue_max = config.webhook_queue_max
        self.webhooks_per_merchant_max = config.webhooks_per_merchant_max
        self.store = NotificationStore(config.data_dir / STORE_FILE)
        self.hub = MerchantHub(config.sse_clients_max, config.sse_queue_events_max)
        self.worker = DeliveryWorker(
            self.store, node.key, attempts_max=config.webhook_attempts_max,
            timeout_s=config.webhook_timeout_s, backoff_base_ms=config.webhook_backoff_base_ms,
            backoff_max_ms=config.webhook_backoff_max_ms,
            concurrency_max=config.webhook_concurrency_max)
        cursor = self.store.cursor()
        head = node.chain.head.height
        if cursor is None or cursor > head:
            # A new store: notifications start from now; history is not sent to webhooks.
            # (Beyond the head: the ledger was reset under a kept store; start over too.)
            if cursor is not None:
                log.warning("notifications cursor %d is beyond the ledger's head %d; "
                            "restarting from the head", cursor, head)
            cursor = head
            self.store.save_cursor(cursor)
        self.cursor = cursor  # the notify thread's: the last block whose events are stored
        self._saved = cursor
        self.published_height = cursor  # the loop's: the last block published to the hub
        self._blocks: queue.Queue[Committed | None] = queue.Queue(BLOCKS_QUEUED_MAX)
        self._missed = threading.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        node.commit_listeners.append(self.on_commit)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()
        self.worker.start(loop)

    async def stop(self) -> None:
        """After the node stopped committing: store what is queued, stop sending, close."""
        self._stopping = True
        self.node.commit_listeners.remove(self.on_commit)
        if self._thread is not None:
            try:
                await asyncio.to_thread(self._blocks.put, None, True, 10)
            except queue.Full:
                log.error("the notify thread is stuck; stopping without it")
            await asyncio.to_thread(self._thread.join, 10)
        await self.worker.stop()
        self.hub.close()
        self.store.close()

    def on_commit(self, committed: Committed) -> None:
        """Called on the executor's thread after each commit: never blocks it."""
        try:
            self._blocks.put_nowait(committed)
        except queue.Full:
            self._missed.set()

    # -- the notify thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._catch_up(None)
        except Exception:
            log.exception("notifications could not catch up with the ledger")
        while True:
            committed = self._blocks.get()
            if committed is None:
                break
            try:
                self._take(committed)
                if self._missed.is_set() and self._blocks.empty() and not self._stopping:
                    self._missed.clear()
                    self._catch_up(None)
            except Exception:
                # A block whose events could not be stored is caught up at the next block.
                log.exception("notifications failed at block %d", committed.block.height)
        if self.cursor > self._saved:
            self.store.save_cursor(self.cursor)

    def _take(self, committed: Committed) -> None:
        block = committed.block
        if block.height <= self.cursor:
            return  # caught up from the store already
        if block.height > self.cursor + 1:
            self._catch_up(block.height - 1)
        items: list[TxItem] = [
            (e.tx_id, e.tx.kind, e.tx.payload, r)
            for e, r in zip(committed.executed, block.results, strict=True)
            if r.accepted and e.tx.kind in EVENT_KINDS]
        self._process(block.height, block.time_ms, items)

    def _process(self, height: int, time_ms: int, items: list[TxItem]) -> None:
        assert height > self.cursor, (height, self.cursor)
        events = [stored(e) for e in events_of_block(self.node.chain.state, items)]
        if events:
            added = self.store.record_block(height, events, self.queue_max, now_ms())
            self._saved = height
            self._publish_soon(height, events)
            if added:
                self.worker.wake()
        elif height - self._saved >= CURSOR_SAVE_BLOCKS:
            self.store.save_cursor(height)
            self._saved = height
        self.cursor = height
        if height % PRUNE_EVERY_BLOCKS == 0:
            self.store.prune(time_ms - self.events_kept_ms, now_ms() - self.events_kept_ms)

    def _catch_up(self, upto: int | None) -> None:
        """Store the events of blocks after the cursor up to ``upto`` (default: the ledger's
        head), read back from the ledger's store."""
        ledger = self.node.store
        head = ledger.head() if upto is None else ledger.block(upto)
        if head is None or head.height <= self.cursor:
            return
        base = ledger.block(self.cursor)
        assert base is not None, self.cursor
        first_leaf = max(base.tree_size, head.tree_size - CATCH_UP_TXS_MAX)
        if first_leaf > base.tree_size:
            log.warning("notifications skip %d txs after block %d: too far behind",
                        first_leaf - base.tree_size, self.cursor)
        # The newest txs come first; ask for enough to reach back to first_leaf (more blocks
        # may have been committed since ``head`` was read).
        rows = []
        for _ in range(3):
            newest = ledger.head()
            assert newest is not None
            rows = ledger.recent_txs(newest.tree_size - first_leaf)
            if not rows or rows[-1].leaf_index <= first_leaf:
                break
        by_height: dict[int, list[TxItem]] = {}
        times: dict[int, int] = {}
        for row in reversed(rows):
            if not first_leaf <= row.leaf_index < head.tree_size:
                continue
            if row.status != "accepted" or row.kind not in EVENT_KINDS:
                continue
            result = decode_result(row.result)
            stx = _decode_signed(row.raw)
            by_height.setdefault(row.height, []).append(
                (row.tx_id, row.kind, stx.tx.payload, result))
            times[row.height] = result.time_ms
        for height in sorted(by_height):
            if height > self.cursor:
                self._process(height, times[height], by_height[height])
        self.cursor = max(self.cursor, head.height)
        self.store.save_cursor(self.cursor)
        self._saved = self.cursor

    def _publish_soon(self, height: int, events: list[StoredEvent]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        by_merchant: dict[str, list[StoredEvent]] = {}
        for e in events:
            by_merchant.setdefault(e.merchant_id, []).append(e)
        texts = {m: sse_text(es) for m, es in by_merchant.items()}
        loop.call_soon_threadsafe(self._publish, height, texts)

    def _publish(self, height: int, texts: dict[str, str]) -> None:
        self.published_height = height
        for merchant_id, text in texts.items():
            self.hub.publish(merchant_id, (height, text))
