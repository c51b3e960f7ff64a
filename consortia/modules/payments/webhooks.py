"""Signed webhooks of merchant events: the notification store, the URL rules, the signature,
its reference verifier, and the delivery worker.

The store is a small SQLite file beside the ledger (``notifications.sqlite`` in the node's data
directory). It is this node's configuration and outbox, not consensus: other nodes neither see
nor need it, and deleting it loses registered webhooks and undelivered deliveries, never money.

A delivery is one event POSTed as JSON to one webhook, signed by the node's key::

    X-Consortia-Event-Id:  the event's id (the body's "id"; the same on every retry)
    X-Consortia-Timestamp: when this attempt was signed, in ms since 1970 UTC
    X-Consortia-Signature: hex Ed25519 over b"consortia/webhook/v1" ‖ timestamp ‖ b"." ‖ body

A receiver verifies with the node's public key (``node_key`` of ``GET /v1/chain``), so there is
no shared secret to leak, and deduplicates by event id: a retry after a lost answer delivers the
same event again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx

from consortia.crypto.keys import SigningKey, verify

log = logging.getLogger(__name__)

STORE_FILE = "notifications.sqlite"
WEBHOOK_DOMAIN = b"consortia/webhook/v1"
EVENT_ID_HEADER = "X-Consortia-Event-Id"
TIMESTAMP_HEADER = "X-Consortia-Timestamp"
SIGNATURE_HEADER = "X-Consortia-Signature"
USER_AGENT = "consortia-webhooks/1"
URL_CHARS_MAX = 2_048
TOLERANCE_S_DEFAULT = 300.0
ERROR_CHARS_MAX = 200
DELIVERIES_LIMIT_MAX = 200
# Pending deliveries taken from the store per look; the worker sends at most its concurrency.
DUE_SCAN_MAX = 1_000

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
-- One row per merchant event; seq (the rowid) orders them, (merchant_id, height) finds them.
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    height INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_merchant ON events (merchant_id, height);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time_ms);
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    url TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (merchant_id, url)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_ms INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    UNIQUE (webhook_id, event_seq)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_ms);
CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries (event_seq);
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- URLs ---------------------------------------------------------------------------------------

class WebhookRefused(Exception):
    """A webhook that cannot be registered: a bad URL, a duplicate, or one too many."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str) -> str:
    """``url`` if a webhook may be sent there: https, or plain http to a loopback receiver only
    (tests and local development: the body then never leaves the machine)."""
    if not 0 < len(url) <= URL_CHARS_MAX:
        raise WebhookRefused("bad_webhook_url", f"a webhook URL is 1 to {URL_CHARS_MAX} "
                             "characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise WebhookRefused("bad_webhook_url", "a webhook URL has no spaces or control "
                             "characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as exc:
        raise WebhookRefused("bad_webhook_url", f"not a URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookRefused("bad_webhook_url", "a webhook URL is https://host/path")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("bad_webhook_url", "a webhook URL carries no user or password: "
                             "it is shown to whoever lists the webhooks")
    if parts.fragment:
        raise WebhookRefused("bad_webhook_url", "a webhook URL has no #fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise WebhookRefused("bad_webhook_url", "plain http is allowed only to a loopback "
                             "receiver (127.0.0.1, ::1, localhost); use https")
    return url


# -- signatures ---------------------------------------------------------------------------------

class WebhookVerifyError(ValueError):
    """A delivery that must not be trusted: what is wrong with it is the message."""


def webhook_message(timestamp: str, body: bytes) -> bytes:
    """What the node signs for one delivery attempt."""
    return WEBHOOK_DOMAIN + timestamp.encode() + b"." + body


def sign_webhook(key: SigningKey, body: bytes, event_id: str,
                 time_ms: int | None = None) -> dict[str, str]:
    """The headers of one delivery attempt of ``body``."""
    timestamp = str(now_ms() if time_ms is None else time_ms)
    return {EVENT_ID_HEADER: event_id, TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: key.sign(webhook_message(timestamp, body)).hex()}


def verify_webhook(body: bytes, headers: Mapping[str, str], node_key: str | bytes,
                   tolerance_s: float = TOLERANCE_S_DEFAULT, *,
                   time_ms: int | None = None) -> dict[str, Any]:
    """The event of a webhook delivery, once its signature by ``node_key`` (hex or 32 bytes)
    verifies, its timestamp is within ``tolerance_s`` of now (``time_ms``, default the clock)
    and its event id header matches the body. Raises WebhookVerifyError otherwise.

    A verified delivery may still be a repeat: deduplicate by the returned event's ``id``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    values = []
    for name in (EVENT_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        value = lower.get(name.lower())
        if not value:
            raise WebhookVerifyError(f"missing {name} header")
        values.append(value)
    event_id, timestamp, signature_hex = values
    if not timestamp.isdigit() or len(timestamp) > 16:
        raise WebhookVerifyError(f"bad timestamp: {TIMESTAMP_HEADER} is ms since 1970")
    key = bytes.fromhex(node_key) if isinstance(node_key, str) else node_key
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise WebhookVerifyError("bad signature: not hex") from None
    if not verify(key, webhook_message(timestamp, body), signature):
        raise WebhookVerifyError("bad signature: it does not verify with the node's key")
    # Checked after the signature, so a forged timestamp is reported as a forgery.
    skew_s = abs((now_ms() if time_ms is None else time_ms) - int(timestamp)) / 1000
    if skew_s > tolerance_s:
        raise WebhookVerifyError(f"stale timestamp: signed {skew_s:.0f} s from now, more than "
                                 f"the {tolerance_s:.0f} s allowed (a replay?)")
    try:
        event: Any = json.loads(body)
    except ValueError:
        raise WebhookVerifyError("the body is not JSON") from None
    if not isinstance(event, dict) or event.get("id") != event_id:
        raise WebhookVerifyError(f"{EVENT_ID_HEADER} does not match the body's id")
    return event


def backoff_ms(attempts: int, base_ms: int, max_ms: int,
               rand: Callable[[], float] = random.random) -> int:
    """How long to wait after the ``attempts``-th failed attempt: base, 2·base, 4·base …
    capped at ``max_ms``, each with "equal jitter" (between half and all of it), so receivers
    that failed together are not retried in lockstep."""
    assert attempts >= 1, attempts
    delay = min(max_ms, base_ms << min(attempts - 1, 40))
    return delay // 2 + int(rand() * (delay - delay // 2))


# -- the store ----------------------------------------------------------------------------------

class StoredEvent(NamedTuple):
    id: str
    type: str
    merchant_id: str
    height: int
    time_ms: int
    body: bytes  # the JSON sent over SSE and to webhooks


class Webhook(NamedTuple):
    id: str
    merchant_id: str
    url: str
    created_ms: int
    created_by: str

    def view(self) -> dict[str, Any]:
        return self._asdict()


class Delivery(NamedTuple):
    """A delivery due for its next attempt."""

    id: int
    webhook_id: str
    url: str
    event_id: str
    body: bytes
    attempts: int


class NotificationStore:
    """One SQLite connection shared by the notify thread and the event loop under a lock;
    every use is a short statement or one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit survives the process being killed; a power cut may lose the last
        # ones, which the node re-derives from the ledger (the cursor is in the same file).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _meta(self, key: str) -> int | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def _set_meta(self, key: str, value: int) -> None:
        self._conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                           "DO UPDATE SET value = excluded.value", (key, value))

    # -- events ----------------------------------------------------------------------------

    def cursor(self) -> int | None:
        """The last block height whose events are stored (None: a new store)."""
        with self._lock:
            return self._meta("cursor")

    def save_cursor(self, height: int) -> None:
        with self._lock:
            self._set_meta("cursor", height)

    def pruned_height(self) -> int:
        """Events of blocks up to this height may have been pruned."""
        with self._lock:
            return self._meta("pruned_height") or 0

    def record_block(self, height: int, events: Sequence[StoredEvent], queue_max: int,
                     time_ms: int) -> int:
        """Store a block's events, a delivery of each to its merchant's webhooks, and the
        cursor, in one transaction. Returns how many deliveries are pending for the worker.

        A delivery beyond ``queue_max`` pending ones is recorded as failed at once, so one
        dead receiver cannot make the outbox grow without bound.
        """
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                merchants = sorted({e.merchant_id for e in events})
                hooks: dict[str, list[str]] = {}
                if merchants:
                    for merchant_id, webhook_id in conn.execute(
                            "SELECT merchant_id, id FROM webhooks WHERE merchant_id IN "
                            f"({','.join('?' * len(merchants))})", merchants):
                        hooks.setdefault(merchant_id, []).append(webhook_id)
                pending = 0
                if hooks:
                    pending = conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = ?",
                                           (PENDING,)).fetchone()[0]
                added = 0
                insert = ("INSERT OR IGNORE INTO events (id, type, merchant_id, height, time_ms, "
                          "body) VALUES (?, ?, ?, ?, ?, ?)")
                # Most merchants have no webhook: their events go in one batched statement.
                conn.executemany(insert, [e for e in events if e.merchant_id not in hooks])
                for e in events:
                    if e.merchant_id not in hooks:
                        continue
                    cur = conn.execute(insert, e)
                    if cur.rowcount == 0:
                        continue  # stored by an earlier pass over this block
                    for webhook_id in hooks.get(e.merchant_id, ()):
                        full = pending >= queue_max
                        conn.execute(
                            "INSERT OR IGNORE INTO deliveries (webhook_id, event_seq, status, "
                            "attempts, next_ms, last_status, last_error, updated_ms) "
                            "VALUES (?, ?, ?, 0, ?, NULL, ?, ?)",
                            (webhook_id, cur.lastrowid, FAILED if full else PENDING, time_ms,
                             f"not sent: {queue_max} deliveries were pending" if full else "",
                             time_ms))
                        if not full:
                            pending += 1
                            added += 1
                self._set_meta("cursor", height)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return added

    def events_after(self, merchant_id: str, height: int, limit: int) -> list[StoredEvent]:
        """The merchant's events of blocks above ``height``, in order, at most ``limit``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, type, merchant_id, height, time_ms, body FROM events "
                "WHERE merchant_id = ? AND height > ? ORDER BY height, seq LIMIT ?",
                (merchant_id, height, limit)).fetchall()
        return [StoredEvent(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def prune(self, events_before_ms: int, deliveries_before_ms: int) -> None:
        """Forget events older than ``events_before_ms`` (block time) that no delivery still
        waits on, and finished deliveries last touched before ``deliveries_before_ms``."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM deliveries WHERE status != ? AND updated_ms < ?",
                             (PENDING, deliveries_before_ms))
                row = conn.execute("SELECT MAX(height) FROM events WHERE time_ms < ?",
                                   (events_before_ms,)).fetchone()
                if row[0] is not None:
                    conn.execute(
                        "DELETE FROM events WHERE time_ms < ? AND seq NOT IN "
                        "(SELECT event_seq FROM deliveries)", (events_before_ms,))
                    self._set_meta("pruned_height", max(self._meta("pruned_height") or 0,
                                                        int(row[0])))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- webhooks --------------------------------------------------------------------------

    def add_webhook(self, merchant_id: str, url: str, created_by: str, per_merchant_max: int,
                    time_ms: int) -> Webhook:
        hook = Webhook("wh_" + secrets.token_hex(8), merchant_id, check_webhook_url(url),
                       time_ms, created_by)
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                count = conn.execute("SELECT COUNT(*) FROM webhooks WHERE merchant_id = ?",
                                     (merchant_id,)).fetchone()[0]
                if conn.execute("SELECT 1 FROM webhooks WHERE merchant_id = ? AND url = ?",
                                (merchant_id, url)).fetchone() is not None:
                    raise WebhookRefused("webhook_exists", f"{merchant_id} has a webhook to "
                                         "this URL already")
                if count >= per_merchant_max:
                    raise WebhookRefused("too_many_webhooks", f"a merchant has at most "
                                         f"{per_merchant_max} webhooks; remove one first")
                conn.execute("INSERT INTO webhooks (id, merchant_id, url, created_ms, "
                             "created_by) VALUES (?, ?, ?, ?, ?)", hook)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return hook

    def webhooks(self, merchant_id: str) -> list[Webhook]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, merchant_id, url, created_ms, created_by FROM webhooks "
                "WHERE merchant_id = ? ORDER BY rowid", (merchant_id,)).fetchall()
        return [Webhook(*r) for r in rows]

    def webhook(self, merchant_id: str, webhook_id: str) -> Webhook | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, merchant_id, url, created_ms, created_by FROM webhooks "
                "WHERE merchant_id = ? AND id = ?", (merchant_id, webhook_id)).fetchone()
        return None if row is None else Webhook(*row)

    def remove_webhook(self, merchant_id: str, webhook_id: str) -> bool:
        """Remove a webhook and its deliveries (pending ones are not sent)."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute("DELETE FROM webhooks WHERE merchant_id = ? AND id = ?",
                                   (merchant_id, webhook_id))
                if cur.rowcount:
                    conn.execute("DELETE FROM deliveries WHERE webhook_id = ?", (webhook_id,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return cur.rowcount > 0

    # -- deliveries ------------------------------------------------------------------------

    def due(self, time_ms: int, limit: int, busy: set[int]) -> list[Delivery]:
        """Pending deliveries due at ``time_ms``, oldest due first, leaving out ``busy``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT d.id, d.webhook_id, w.url, e.id, e.body, d.attempts FROM deliveries d "
                "JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.seq = d.event_seq "
                "WHERE d.status = ? AND d.next_ms <= ? ORDER BY d.next_ms LIMIT ?",
                (PENDING, time_ms, limit + len(busy))).fetchall()
        out = [Delivery(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows
               if r[0] not in busy]
        return out[:limit]

    def next_due_ms(self) -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT MIN(next_ms) FROM deliveries WHERE status = ?",
                                     (PENDING,)).fetchone()
        return None if row[0] is None else int(row[0])

    def finish_attempt(self, delivery_id: int, status: str, attempts: int, next_ms: int,
                       http_status: int | None, error: str, time_ms: int) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_ms = ?, last_status = ?, "
                "last_error = ?, updated_ms = ? WHERE id = ?",
                (status, attempts, next_ms, http_status, error[:ERROR_CHARS_MAX], time_ms,
                 delivery_id))

    def deliveries(self, webhook_id: str, before: int | None, limit: int,
                   ) -> list[dict[str, Any]]:
        """A webhook's deliveries, newest first (``before``: a delivery id to page on from)."""
        limit = max(0, min(limit, DELIVERIES_LIMIT_MAX))
        with self._lock:
            rows = self._conn.execute(
                "SELECT d.id, e.id, e.type, d.status, d.attempts, d.next_ms, d.last_status, "
                "d.last_error, d.updated_ms FROM deliveries d "
                "LEFT JOIN events e ON e.seq = d.event_seq WHERE d.webhook_id = ? AND d.id < ? "
                "ORDER BY d.id DESC LIMIT ?",
                (webhook_id, 2**63 - 1 if before is None else before, limit)).fetchall()
        return [{"id": r[0], "event_id": r[1], "event_type": r[2], "status": r[3],
                 "attempts": r[4], "next_ms": r[5] if r[3] == PENDING else None,
                 "last_status": r[6], "last_error": r[7], "updated_ms": r[8]} for r in rows]


# -- delivering ---------------------------------------------------------------------------------

class DeliveryWorker:
    """Sends due deliveries from the store on the event loop, at most ``concurrency_max`` at
    once, each attempt bounded by ``timeout_s``; a non-2xx answer, a timeout or a connection
    error is retried with backoff until ``attempts_max`` attempts, then recorded as failed.

    State lives in the store, so a restarted node resumes where it stopped.
    """

    def __init__(self, store: NotificationStore, key: SigningKey, *, attempts_max: int,
                 timeout_s: float, backoff_base_ms: int, backoff_max_ms: int,
                 concurrency_max: int) -> None:
        assert attempts_max >= 1 and timeout_s > 0 and concurrency_max >= 1
        self.store = store
        self.key = key
        self.attempts_max = attempts_max
        self.timeout_s = timeout_s
        self.backoff_base_ms = backoff_base_ms
        self.backoff_max_ms = backoff_max_ms
        self.concurrency_max = concurrency_max
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy: dict[int, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # No redirects: a receiver answers 2xx itself, or the attempt failed.
        self._client = httpx.AsyncClient(
            timeout=self.timeout_s, follow_redirects=False,
            limits=httpx.Limits(max_connections=self.concurrency_max),
            headers={"user-agent": USER_AGENT})
        self._task = loop.create_task(self._run(), name="webhook-worker")

    def wake(self) -> None:
        """New deliveries are due; callable from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        """Stop sending; attempts in flight are abandoned and stay pending in the store."""
        tasks = [t for t in (self._task, *self._busy.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._dispatch()
                wait_s = None
                if len(self._busy) < self.concurrency_max:
                    next_ms = self.store.next_due_ms()
                    wait_s = None if next_ms is None else max(0.0, (next_ms - now_ms()) / 1000)
            except sqlite3.Error:
                log.exception("webhook worker cannot read its store; retrying in 5 s")
                wait_s = 5.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait_s)

    def _dispatch(self) -> None:
        free = self.concurrency_max - len(self._busy)
        if free <= 0:
            return
        for delivery in self.store.due(now_ms(), free, set(self._busy)):
            task = asyncio.create_task(self._attempt(delivery))
            self._busy[delivery.id] = task
            task.add_done_callback(functools.partial(self._done, delivery.id))

    def _done(self, delivery_id: int, _: asyncio.Task[None]) -> None:
        self._busy.pop(delivery_id, None)
        self._wake.set()

    async def _attempt(self, d: Delivery) -> None:
        assert self._client is not None
        headers = {"content-type": "application/json",
                   **sign_webhook(self.key, d.body, d.event_id)}
        http_status: int | None = None
        error = ""
        try:
            async with asyncio.timeout(self.timeout_s):
                # Streamed and never read: a receiver's answer body is not our business.
                async with self._client.stream("POST", d.url, content=d.body,
                                               headers=headers) as response:
                    http_status = response.status_code
        except TimeoutError:
            error = f"no answer within {self.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        attempts = d.attempts + 1
        time_ms = now_ms()
        if http_status is not None and 200 <= http_status < 300:
            self.store.finish_attempt(d.id, DELIVERED, attempts, time_ms, http_status, "",
                                      time_ms)
            return
        error = error or f"HTTP {http_status}"
        if attempts >= self.attempts_max:
            log.warning("webhook %s gave up on delivery %d after %d attempts: %s",
                        d.webhook_id, d.id, attempts, error)
            self.store.finish_attempt(d.id, FAILED, attempts, time_ms, http_status, error,
                                      time_ms)
            return
        delay = backoff_ms(attempts, self.backoff_base_ms, self.backoff_max_ms)
        self.store.finish_attempt(d.id, PENDING, attempts, time_ms + delay, http_status,
                                  error, time_ms)
