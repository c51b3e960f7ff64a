"""Ordering on an etcd cluster: every node writes its batches to etcd, every node delivers all
batches in etcd's revision order (docs/etcd-ordering.md, docs/consortium.md).

Keys live under ``P = <etcd_prefix>/<chain_id>/``:

- ``P batch/<id>``: one ``EtcdBatch``. Its create revision is the ``batch_seq`` every node
  delivers, so every node builds the same blocks.
- ``P applied/<node_id>``: the last revision that node has applied (decimal).
- ``P floor``: every batch at or below this revision may have been deleted; a node whose
  position is below it cannot catch up from etcd (it needs a peer's snapshot).

aetcd is one host per client and hides the Range and Watch options this needs
(``min_mod_revision``, ``limit``, ``fragment``), so we drive etcd's gRPC API through the stubs
aetcd ships, on our own channel per member, and do failover across members ourselves.
Every channel, the orderer's and ``read_floor``'s, is TLS when ``etcd_ca_file`` is set
(``etcd_credentials``): the members' certificates are checked against that CA and the node
presents ``etcd_cert_file`` to etcd's ``--client-cert-auth``.

Threads: one asyncio loop thread does all etcd I/O (reading, probing, writing, the window);
one delivery thread calls ``deliver``, which executes a block and may take a while. A bounded
queue sits between them, so a slow block never stalls the health probe or the writes.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import random
import secrets
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio
import msgspec
from aetcd import rpc

from consortia.ledger.tx import Envelope
from consortia.node.config import NodeConfig
from consortia.node.orderer import Deliver, now_ms
from consortia.node.pem import read_pem

log = logging.getLogger(__name__)

T = TypeVar("T")

MIB = 1024 * 1024
# A watch fragment or a fetched value is at most etcd's --max-request-bytes (4 MiB); a keys
# page is KEYS_PAGE_MAX short keys. 32 MiB leaves room without letting a bad reply eat memory.
GRPC_MESSAGE_BYTES_MAX = 32 * MIB
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", GRPC_MESSAGE_BYTES_MAX),
    ("grpc.max_send_message_length", GRPC_MESSAGE_BYTES_MAX),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]
KEYS_PAGE_MAX = 1_000  # batch keys listed per catch-up Range (keys only)
FETCH_CONCURRENCY = 4  # batch values fetched at once during catch-up
TXN_OPS_MAX = 128  # etcd's default --max-txn-ops: keys deleted per window Txn
WINDOW_DELETE_PAGES_MAX = 100  # per window pass; the next pass continues
DELIVERY_QUEUE_BYTES_MAX = 64 * MIB  # read ahead of the executor, at most
DELIVERY_QUEUE_BATCHES_MAX = 1_024
OWN_BATCHES_MAX = 1_024  # own Envelopes kept for delivery of batches this node wrote
APPLIED_INTERVAL_S = 0.2  # applied/<node_id> is written at most this often
PROBE_INTERVAL_S_MAX = 1.0
BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 1.0
STOP_TIMEOUT_S = 2.0
DELIVER_JOIN_S = 10.0  # stop() lets a block being executed finish before the store closes

# gRPC codes after which the member is presumed gone or hung: talk to another one.
_FAILOVER_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                   grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
                   grpc.StatusCode.INTERNAL}


class EtcdBatch(msgspec.Struct, frozen=True):
    """One batch as stored at ``P batch/<id>``. ``id`` is chosen once and reused on every
    retry, which is what makes writes idempotent."""

    id: str
    node_id: str
    time_ms: int
    txs: list[bytes]


_encode_batch = msgspec.msgpack.Encoder().encode
_decode_batch = msgspec.msgpack.Decoder(EtcdBatch).decode


class BehindWindow(Exception):
    """This node's position is below the floor: batches it has not applied may be gone from
    etcd. It must catch up from a peer's snapshot."""

    def __init__(self, after_seq: int, floor: int) -> None:
        super().__init__(f"position {after_seq} is below the etcd window floor {floor}: "
                         "catch up from a peer snapshot")
        self.after_seq = after_seq
        self.floor = floor


class OrdererStopped(RuntimeError):
    """``submit`` was interrupted by ``stop()``; the batch may or may not have been written."""


class OrdererFailed(RuntimeError):
    """The orderer stopped delivering (see ``EtcdOrderer.failed``)."""


class EtcdUnavailable(RuntimeError):
    """No etcd endpoint answered."""


class BatchConflict(RuntimeError):
    """A batch key holds another value than the one written under that id: ids collide or a
    second writer uses our node id. Never retried."""


@dataclass(frozen=True)
class Keys:
    """The key layout under ``<etcd_prefix>/<chain_id>/``."""

    base: bytes

    @classmethod
    def of(cls, etcd_prefix: str, chain_id: str) -> Keys:
        assert chain_id and "/" not in chain_id, "chain id must be one key segment"
        return cls(f"{etcd_prefix.rstrip('/')}/{chain_id}/".encode())

    @property
    def batches(self) -> bytes:
        return self.base + b"batch/"

    @property
    def batches_end(self) -> bytes:
        return prefix_range_end(self.batches)

    def batch(self, batch_id: str) -> bytes:
        return self.batches + batch_id.encode()

    @property
    def applied_prefix(self) -> bytes:
        return self.base + b"applied/"

    def applied(self, node_id: str) -> bytes:
        return self.applied_prefix + node_id.encode()

    @property
    def floor(self) -> bytes:
        return self.base + b"floor"


def prefix_range_end(prefix: bytes) -> bytes:
    """The smallest key above every key starting with ``prefix`` (etcd's range_end)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


def normalize_endpoint(endpoint: str) -> str:
    """``host:port`` from ``host:port`` or ``http://host:port``."""
    for scheme in ("http://", "https://"):
        if endpoint.startswith(scheme):
            endpoint = endpoint[len(scheme):]
    return endpoint.rstrip("/")


def _decimal(kvs: Any) -> int:
    return int(kvs[0].value) if kvs else 0


_TLS_FIELDS = ("etcd_ca_file", "etcd_cert_file", "etcd_key_file")


def etcd_credentials(config: NodeConfig) -> grpc.ChannelCredentials | None:
    """TLS credentials for every channel to etcd, or None for plain gRPC.

    TLS is on when ``etcd_ca_file`` is set: the CA checks each member's server certificate
    (which must name the host or IP the endpoint uses); ``etcd_cert_file`` and
    ``etcd_key_file`` (both or neither, see ``NodeConfig``) authenticate this node to etcd's
    ``--client-cert-auth``. The files are read once, here, so a missing or unreadable one
    stops the node at start (``ValueError`` naming the field) instead of every later
    connection failing.
    """
    ca, cert, key = (read_pem(config, field) for field in _TLS_FIELDS)
    if ca is None:
        if cert is not None or key is not None:  # NodeConfig refuses this already
            raise ValueError("etcd_cert_file and etcd_key_file need etcd_ca_file")
        return None
    if (cert is None) != (key is None):  # NodeConfig refuses this already
        raise ValueError("etcd_cert_file and etcd_key_file go together")
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                        certificate_chain=cert)


def open_channel(endpoint: str,
                 credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    """An asyncio channel to one member: TLS with ``credentials``, plain gRPC without."""
    if credentials is None:
        return grpc.aio.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(endpoint, credentials, options=CHANNEL_OPTIONS)


class _Conn:
    """One gRPC channel to one member. ``dead`` is set once we gave up on it."""

    def __init__(self, endpoint: str, credentials: grpc.ChannelCredentials | None) -> None:
        self.endpoint = endpoint
        self.channel = open_channel(endpoint, credentials)
        self.kv = rpc.KVStub(self.channel)
        self.watch = rpc.WatchStub(self.channel)
        self.dead = asyncio.Event()


class _WatchBroken(Exception):
    """The watch ended (compaction, cancel by the server, member lost): resume by Range."""


class _Lost(Exception):
    """The channel was closed under a call: someone gave up on that member meanwhile."""


async def _rpc(call: Awaitable[T]) -> T:
    """Await one gRPC call. grpc.aio cancels the calls of a channel being closed, which shows
    up as CancelledError in the caller; unless our own task is being cancelled (stop), that
    is a lost member, not a reason for the task to end."""
    try:
        return await call
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise _Lost("channel closed during the call") from None
    except grpc.aio.UsageError as exc:  # called on a channel already closed
        raise _Lost(str(exc)) from None


# Errors that mean "this member, now": fail over (or see that someone did) and retry.
# A call built on a channel another task's failover has just closed raises UsageError before
# _rpc can see it: the same "lost member" case.
_MEMBER_ERRORS = (grpc.aio.AioRpcError, grpc.aio.UsageError, _Lost)


@dataclass(frozen=True)
class _Item:
    seq: int
    time_ms: int
    items: list[Envelope | bytes]
    size_bytes: int


class _DeliveryQueue:
    """Bounded hand-over from the loop (async producer) to the delivery thread (consumer)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, batches_max: int) -> None:
        self._loop = loop
        self._batches_max = batches_max
        self._items: collections.deque[_Item] = collections.deque()
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()
        self._space = asyncio.Event()

    def _full(self) -> bool:
        return bool(self._items) and (self._bytes >= DELIVERY_QUEUE_BYTES_MAX
                                      or len(self._items) >= self._batches_max)

    async def put(self, item: _Item) -> None:
        while True:
            with self._cond:
                if not self._full():
                    self._items.append(item)
                    self._bytes += item.size_bytes
                    self._cond.notify()
                    return
                # Cleared under the lock: a get() after this point sets it again.
                self._space.clear()
            await self._space.wait()

    def get(self, timeout_s: float) -> _Item | None:
        """The next item, or None after ``timeout_s`` or once closed."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout_s)
            if self._closed or not self._items:
                return None
            item = self._items.popleft()
            self._bytes -= item.size_bytes
        with contextlib.suppress(RuntimeError):  # loop already closed: we are stopping
            self._loop.call_soon_threadsafe(self._space.set)
        return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class EtcdOrderer:
    """The ``Orderer`` of a node in a consortium: etcd orders, every node delivers the same
    batches with the same ``batch_seq`` and time.

    ``window_nodes`` lists the nodes whose progress holds the window open (the active nodes of
    the consortium); it is called on the delivery thread between deliveries, so it may read
    the node's state without racing the executor.
    """

    def __init__(self, config: NodeConfig, chain_id: str,
                 window_nodes: Callable[[], list[str]], *,
                 keys_page_max: int = KEYS_PAGE_MAX,
                 delivery_queue_batches_max: int = DELIVERY_QUEUE_BATCHES_MAX) -> None:
        if not config.etcd_endpoints:
            raise ValueError("ordering = 'etcd' needs etcd_endpoints")
        self.config = config
        self.node_id = config.node_id
        self.keys = Keys.of(config.etcd_prefix, chain_id)
        self.window_nodes = window_nodes
        self.endpoints = [normalize_endpoint(e) for e in config.etcd_endpoints]
        self._credentials = etcd_credentials(config)  # raises now on a bad TLS file
        self.timeout_s = config.etcd_timeout_s
        self.probe_interval_s = min(PROBE_INTERVAL_S_MAX, config.etcd_timeout_s)
        assert keys_page_max >= 1 and delivery_queue_batches_max >= 1
        self.keys_page_max = keys_page_max
        self.delivery_queue_batches_max = delivery_queue_batches_max
        # Spread nodes over members; failover rotates from here.
        self._index = zlib.crc32(self.node_id.encode()) % len(self.endpoints)

        # Plain counters for the node's metrics.
        self.batches_written = 0
        self.batches_delivered = 0
        self.write_retries = 0
        self.failovers = 0
        self.catchups = 0
        self.batches_skipped = 0
        self.window_passes = 0
        # Why delivery stopped, for /healthz; None while healthy.
        self.failed: str | None = None
        self.floor = 0  # as last read from etcd
        # When a member last answered the health probe (monotonic seconds): /healthz turns
        # degraded when no member has answered for a while (down, partitioned, TLS refused).
        self._answered_s = time.monotonic()

        self._deliver: Deliver | None = None
        self._position = 0  # last revision handed to the delivery queue (loop thread)
        self._delivered_seq = 0  # last revision deliver() returned for (delivery thread)
        self._applied_written = 0
        self._compacted = 0
        self._window_nodes: list[str] | None = None
        self._own: collections.OrderedDict[str, list[Envelope]] = collections.OrderedDict()
        self._conn: _Conn | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._delivery_thread: threading.Thread | None = None
        self._queue: _DeliveryQueue | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = threading.Event()
        self._state_lock = threading.Lock()
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str | None:
        """The member this orderer talks to now (None between two members)."""
        conn = self._conn
        return None if conn is None else conn.endpoint

    def silent_s(self) -> float:
        """Seconds since an etcd member last answered this node's health probe."""
        return time.monotonic() - self._answered_s

    @property
    def delivered_seq(self) -> int:
        """The revision of the last batch ``deliver`` returned for."""
        return self._delivered_seq

    def start(self, deliver: Deliver, after_seq: int) -> None:
        """Deliver every batch after revision ``after_seq``, in order, from now on.

        Raises ``BehindWindow`` when etcd may no longer hold every batch after ``after_seq``.
        If no member answers now, starts anyway and keeps trying (the check is repeated on
        every resume, so a node behind the window still never skips a batch).
        """
        with self._state_lock:
            assert not self._started, "EtcdOrderer.start called twice"
            self._started = True
        assert after_seq >= 0
        self._deliver = deliver
        self._position = after_seq
        self._delivered_seq = after_seq
        self._applied_written = after_seq
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._loop_thread = threading.Thread(target=self._run_loop, name="etcd-orderer",
                                             daemon=True)
        self._loop_thread.start()
        try:
            floor = self._call(self._first_floor(), None)
        except BaseException:
            self.stop()
            raise
        if floor is not None and after_seq < floor:
            self.stop()
            raise BehindWindow(after_seq, floor)
        self._queue = _DeliveryQueue(loop, self.delivery_queue_batches_max)
        self._delivery_thread = threading.Thread(target=self._delivery_loop,
                                                 name="etcd-deliver", daemon=True)
        self._delivery_thread.start()
        self._call(self._spawn_tasks(), STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Stop reading, writing and delivering; close the channels. Idempotent.

        A block being executed is allowed to finish (so the caller can close its store).
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._queue is not None:
            self._queue.close()
        loop, thread = self._loop, self._loop_thread
        if loop is not None and thread is not None and thread.is_alive():
            try:
                self._call(self._shutdown(), STOP_TIMEOUT_S)
            except Exception:
                log.exception("etcd orderer did not shut down cleanly")
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT_S)
        delivery = self._delivery_thread
        if delivery is not None and delivery is not threading.current_thread():
            delivery.join(DELIVER_JOIN_S)

    def _run_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None) -> T:
        """Run ``coro`` on the loop from another thread and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    async def _spawn_tasks(self) -> None:
        # Held here: the loop keeps only weak references to tasks.
        self._tasks = [asyncio.create_task(c) for c in (
            self._read_loop(),
            self._every(self.probe_interval_s, "health probe", self._probe),
            self._every(APPLIED_INTERVAL_S, "writing the applied position",
                        self._write_applied),
            self._every(self.config.etcd_window_interval_s, "window pass",
                        self._slide_window))]

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.dead.set()
            await conn.channel.close()

    def _fail(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason
            log.error("etcd orderer stopped delivering: %s", reason)

    # -- connections -----------------------------------------------------------------------

    def _current(self) -> _Conn:
        if self._conn is None:
            self._conn = _Conn(self.endpoints[self._index], self._credentials)
        return self._conn

    async def _fail_over(self, conn: _Conn, reason: object) -> None:
        """Give up on ``conn`` (if nobody did yet) and move on to the next member."""
        if self._conn is not conn:
            return
        self._conn = None
        self._index = (self._index + 1) % len(self.endpoints)
        self.failovers += 1
        conn.dead.set()
        log.warning("etcd member %s failed (%s); trying %s", conn.endpoint, reason,
                    self.endpoints[self._index])
        await conn.channel.close()

    async def _on_error(self, conn: _Conn, exc: BaseException) -> None:
        if isinstance(exc, grpc.aio.AioRpcError) and exc.code() not in _FAILOVER_CODES:
            return  # the member answered: a request problem, not a member problem
        await self._fail_over(conn, _describe(exc))

    @staticmethod
    async def _backoff(attempt: int) -> None:
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** min(attempt, 16))
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _first_floor(self) -> int | None:
        """The floor, trying each member once; None when none answers."""
        for _ in self.endpoints:
            conn = self._current()
            try:
                floor, _rev, _mod = await self._read_floor(conn)
            except _MEMBER_ERRORS as exc:
                await self._fail_over(conn, _describe(exc))
                continue
            self.floor = floor
            return floor
        log.warning("no etcd member of %s answers; will keep trying", self.endpoints)
        return None

    async def _read_floor(self, conn: _Conn) -> tuple[int, int, int]:
        """(floor, header revision, floor key's mod revision) by a linearizable read, which
        needs the member to have a quorum: also our health probe."""
        resp = await _rpc(conn.kv.Range(rpc.RangeRequest(key=self.keys.floor),
                                        timeout=self.timeout_s))
        mod = resp.kvs[0].mod_revision if resp.kvs else 0
        return _decimal(resp.kvs), resp.header.revision, mod

    # -- reading ---------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        """Catch up by Range, then watch; on any failure, resume after the last batch."""
        attempt = 0
        while True:
            conn = self._current()
            try:
                revision = await self._catch_up(conn)
                attempt = 0
                await self._watch_until_broken(conn, revision + 1)
            except (BehindWindow, _Fatal) as exc:
                self._fail(str(exc))
                return
            except (*_MEMBER_ERRORS, TimeoutError, _WatchBroken) as exc:
                attempt += 1
                log.info("etcd read from %s interrupted (%s); resuming after %d",
                         conn.endpoint, _describe(exc), self._position)
                await self._on_error(conn, exc)
                await self._backoff(attempt)
            except Exception as exc:
                # A bug: retrying would repeat it forever. Stop delivering, visibly.
                log.exception("etcd reader failed")
                self._fail(f"etcd reader failed: {_describe(exc)}")
                return

    async def _catch_up(self, conn: _Conn) -> int:
        """Hand every batch after our position to the delivery queue, as of one revision R;
        returns R (the watch goes on from R + 1).

        etcd reads every key of the range (values included) for a Range that sorts or filters
        by revision, whatever its limit: so we list keys only, once per page, then fetch each
        value by key, which is cheap.
        """
        self.catchups += 1
        floor, revision, _mod = await self._read_floor(conn)
        self.floor = floor
        if revision < self._position:
            raise _Fatal(f"etcd is at revision {revision}, below this node's position "
                         f"{self._position}: wrong or reset etcd cluster")
        if self._position < floor:
            raise BehindWindow(self._position, floor)
        while True:
            listing = await _rpc(conn.kv.Range(rpc.RangeRequest(
                key=self.keys.batches, range_end=self.keys.batches_end, revision=revision,
                min_mod_revision=self._position + 1, sort_order=rpc.RangeRequest.ASCEND,
                sort_target=rpc.RangeRequest.MOD, keys_only=True, limit=self.keys_page_max),
                timeout=self.timeout_s))
            keys = [kv.key for kv in listing.kvs]
            for start in range(0, len(keys), FETCH_CONCURRENCY):
                chunk = keys[start:start + FETCH_CONCURRENCY]
                replies = await asyncio.gather(*(_rpc(conn.kv.Range(
                    rpc.RangeRequest(key=k, revision=revision, serializable=True),
                    timeout=self.timeout_s)) for k in chunk))
                for key, reply in zip(chunk, replies, strict=True):
                    if len(reply.kvs) != 1:
                        raise _WatchBroken(f"batch {key!r} vanished at revision {revision}")
                    await self._enqueue(reply.kvs[0])
            if not listing.more:
                return revision

    async def _watch_until_broken(self, conn: _Conn, start_revision: int) -> None:
        watch = asyncio.create_task(self._watch(conn, start_revision))
        dead = asyncio.create_task(conn.dead.wait())
        try:
            done, _ = await asyncio.wait({watch, dead}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watch, dead):
                task.cancel()
            await asyncio.gather(watch, dead, return_exceptions=True)
        if watch in done:
            watch.result()  # raises what broke it
        raise _WatchBroken(f"member {conn.endpoint} given up")

    async def _watch(self, conn: _Conn, start_revision: int) -> None:
        create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=self.keys.batches, range_end=self.keys.batches_end,
            start_revision=start_revision, fragment=True,
            filters=[rpc.WatchCreateRequest.FilterType.NODELETE]))
        call = conn.watch.Watch()
        events: list[Any] = []
        try:
            await _rpc(call.write(create))  # and never done_writing: the stream stays open
            while True:
                resp = await _rpc(call.read())
                if resp is grpc.aio.EOF:
                    raise _WatchBroken("watch stream ended")
                if resp.compact_revision:
                    raise _WatchBroken(f"compacted at {resp.compact_revision}")
                if resp.canceled:
                    raise _WatchBroken(f"canceled by etcd: {resp.cancel_reason}")
                events.extend(resp.events)
                if resp.fragment:
                    continue  # the rest of this revision's events follow
                for event in events:
                    kv = event.kv
                    if event.type == rpc.Event.PUT and kv.create_revision == kv.mod_revision:
                        await self._enqueue(kv)
                events = []
        finally:
            call.cancel()

    async def _enqueue(self, kv: Any) -> None:
        seq = int(kv.create_revision)
        if seq <= self._position:
            return  # seen already (a page and a watch may overlap at their edges)
        if kv.mod_revision != seq:
            # We never overwrite a batch key; a batch is the key as created. A watcher skips
            # the overwrite event, so a reader catching up skips the overwritten key too.
            self.batches_skipped += 1
            log.error("batch key %r was overwritten at revision %d; skipped",
                      kv.key, kv.mod_revision)
            self._position = seq
            return
        try:
            batch = _decode_batch(kv.value)
        except msgspec.DecodeError:
            # Every node sees the same bytes and skips them alike.
            self.batches_skipped += 1
            log.error("undecodable batch %r at revision %d skipped", kv.key, seq)
            self._position = seq
            return
        # Our own batches go back as the Envelopes submitted (decoded and verified once);
        # other nodes' as raw signed txs. The executor treats both alike.
        own = self._own.pop(batch.id, None)
        items: list[Envelope | bytes]
        if (own is not None and batch.node_id == self.node_id and len(own) == len(batch.txs)
                and all(e.raw == raw for e, raw in zip(own, batch.txs, strict=True))):
            items = list(own)  # decoded and verified once already
        else:
            items = list(batch.txs)
        assert self._queue is not None
        await self._queue.put(_Item(seq, batch.time_ms, items, len(kv.value)))
        self._position = seq

    def _delivery_loop(self) -> None:
        queue, deliver = self._queue, self._deliver
        assert queue is not None and deliver is not None
        refresh_at = 0.0
        loop_time = time.monotonic
        while not self._stopping.is_set():
            if loop_time() >= refresh_at:
                refresh_at = loop_time() + self.config.etcd_window_interval_s / 2
                try:
                    self._window_nodes = list(self.window_nodes())
                except Exception:
                    log.exception("window_nodes failed; the window stays where it is")
            item = queue.get(timeout_s=0.2)
            if item is None or self._stopping.is_set():
                continue
            assert item.seq > self._delivered_seq, "batches must be delivered in order"
            try:
                deliver(item.seq, item.time_ms, item.items)
            except Exception as exc:
                self._fail(f"deliver failed at batch {item.seq}: "
                           f"{exc.__class__.__name__}: {exc}")
                log.exception("deliver failed")
                return
            self._delivered_seq = item.seq
            self.batches_delivered += 1

    # -- background ------------------------------------------------------------------------

    async def _every(self, interval_s: float, what: str,
                     step: Callable[[_Conn], Awaitable[None]]) -> None:
        """Run ``step`` on the current member every ``interval_s``, until cancelled. A member
        error moves on to another member (``_on_error``); any other error is logged."""
        while True:
            await asyncio.sleep(interval_s)
            conn = self._current()
            try:
                await step(conn)
            except _MEMBER_ERRORS as exc:
                log.info("%s failed: %s", what, _describe(exc))
                await self._on_error(conn, exc)
            except Exception:
                log.exception("%s failed", what)

    async def _probe(self, conn: _Conn) -> None:
        """A member that stopped answering (SIGSTOP, partition, lost quorum) keeps its TCP
        connection open, so only a timed call finds out: then we move to another member."""
        self.floor, _rev, _mod = await self._read_floor(conn)
        self._answered_s = time.monotonic()

    async def _write_applied(self, conn: _Conn) -> None:
        seq = self._delivered_seq
        if seq <= self._applied_written:
            return
        await _rpc(conn.kv.Put(rpc.PutRequest(key=self.keys.applied(self.node_id),
                                              value=str(seq).encode()),
                               timeout=self.timeout_s))
        self._applied_written = seq

    async def _slide_window(self, conn: _Conn) -> None:
        """One window pass: raise the floor to what every window node has applied (or to
        the cap of ``etcd_window_batches_max`` batches), delete batches at or below it,
        compact. Harmless when several nodes do it at once."""
        nodes = self._window_nodes
        if nodes is None:
            return  # the delivery thread has not asked the node yet
        self.window_passes += 1
        timeout_s = self.timeout_s
        applied_resp = await _rpc(conn.kv.Range(rpc.RangeRequest(
            key=self.keys.applied_prefix, range_end=prefix_range_end(self.keys.applied_prefix)),
            timeout=timeout_s))
        applied = {kv.key[len(self.keys.applied_prefix):].decode(): int(kv.value)
                   for kv in applied_resp.kvs}
        applied_min = min((applied.get(n, 0) for n in nodes), default=0)
        count_resp = await _rpc(conn.kv.Range(rpc.RangeRequest(
            key=self.keys.batches, range_end=self.keys.batches_end, count_only=True),
            timeout=timeout_s))
        cap = 0
        excess = count_resp.count - self.config.etcd_window_batches_max
        if excess > 0:
            oldest = await _rpc(conn.kv.Range(rpc.RangeRequest(
                key=self.keys.batches, range_end=self.keys.batches_end,
                sort_order=rpc.RangeRequest.ASCEND, sort_target=rpc.RangeRequest.CREATE,
                keys_only=True, limit=min(excess, KEYS_PAGE_MAX)), timeout=timeout_s))
            cap = oldest.kvs[-1].create_revision
        floor, _rev, floor_mod = await self._read_floor(conn)
        target = max(applied_min, cap)
        if target > floor:
            # Raise the floor before deleting, so that no reader ever finds a batch above
            # the floor missing. Compare-and-set: the floor only goes up.
            raised = await _rpc(conn.kv.Txn(rpc.TxnRequest(
                compare=[rpc.Compare(key=self.keys.floor, target=rpc.Compare.MOD,
                                     result=rpc.Compare.EQUAL, mod_revision=floor_mod)],
                success=[rpc.RequestOp(request_put=rpc.PutRequest(
                    key=self.keys.floor, value=str(target).encode()))]), timeout=timeout_s))
            if not raised.succeeded:
                return  # another node moved it meanwhile; next pass
            floor = target
        self.floor = floor
        if floor == 0:
            return  # nothing to delete (and max_create_revision=0 would mean "no limit")
        for _ in range(WINDOW_DELETE_PAGES_MAX):
            page = await _rpc(conn.kv.Range(rpc.RangeRequest(
                key=self.keys.batches, range_end=self.keys.batches_end,
                max_create_revision=floor, keys_only=True, limit=TXN_OPS_MAX),
                timeout=timeout_s))
            if not page.kvs:
                break
            await _rpc(conn.kv.Txn(rpc.TxnRequest(success=[
                rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=kv.key))
                for kv in page.kvs]), timeout=timeout_s))
        if floor > self._compacted:
            try:
                await _rpc(conn.kv.Compact(rpc.CompactionRequest(revision=floor),
                                           timeout=timeout_s))
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.OUT_OF_RANGE:
                    raise  # not "already compacted"
            self._compacted = floor

    # -- writing ---------------------------------------------------------------------------

    def submit(self, txs: list[Envelope]) -> None:
        """Write ``txs`` as one batch (several if too large for one etcd request), in order.

        Blocks until written; retries across members with backoff until then or ``stop()``
        (``OrdererStopped``). Delivery follows through the watch, like any node's batch.
        """
        if self.failed is not None:
            raise OrdererFailed(self.failed)
        if not txs:
            return
        time_ms = now_ms()
        for batch, value, envelopes in self._split(txs, time_ms):
            self.write_batch(batch, value, envelopes)

    def write_batch(self, batch: EtcdBatch, value: bytes | None = None,
                    envelopes: list[Envelope] | None = None) -> int:
        """Write one batch idempotently; returns its revision (its ``batch_seq``). Writing
        the same batch again (a retry) returns the same revision and delivers nothing new."""
        if self._stopping.is_set() or self._loop is None:
            raise OrdererStopped("etcd orderer is not running")
        value = value if value is not None else _encode_batch(batch)
        future = asyncio.run_coroutine_threadsafe(self._write(batch, value, envelopes),
                                                  self._loop)
        while True:
            try:
                return future.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                if self._stopping.is_set():
                    future.cancel()
                    raise OrdererStopped("stopped before the batch was written") from None
            except concurrent.futures.CancelledError:
                raise OrdererStopped("stopped before the batch was written") from None

    def _split(self, txs: list[Envelope],
               time_ms: int) -> list[tuple[EtcdBatch, bytes, list[Envelope]]]:
        """Halve until every part fits in one etcd request; order is kept, no tx dropped."""
        batch = EtcdBatch(f"{self.node_id}-{secrets.token_hex(8)}", self.node_id, time_ms,
                          [e.raw for e in txs])
        value = _encode_batch(batch)
        if len(value) <= self.config.etcd_request_bytes_max:
            return [(batch, value, txs)]
        if len(txs) == 1:
            raise ValueError(f"one tx of {len(txs[0].raw)} bytes does not fit in "
                             f"etcd_request_bytes_max ({self.config.etcd_request_bytes_max})")
        half = len(txs) // 2
        return self._split(txs[:half], time_ms) + self._split(txs[half:], time_ms)

    async def _write(self, batch: EtcdBatch, value: bytes,
                     envelopes: list[Envelope] | None) -> int:
        if envelopes is not None:
            self._own[batch.id] = envelopes
            while len(self._own) > OWN_BATCHES_MAX:
                self._own.popitem(last=False)
        key = self.keys.batch(batch.id)
        request = rpc.TxnRequest(
            compare=[rpc.Compare(key=key, target=rpc.Compare.CREATE,
                                 result=rpc.Compare.EQUAL, create_revision=0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=key))])
        attempt = 0
        while True:
            conn = self._current()
            try:
                resp = await _rpc(conn.kv.Txn(request, timeout=self.timeout_s))
            except _MEMBER_ERRORS as exc:
                if (isinstance(exc, grpc.aio.AioRpcError)
                        and exc.code() == grpc.StatusCode.INVALID_ARGUMENT):
                    raise  # too large or malformed: retrying cannot help
                attempt += 1
                self.write_retries += 1
                log.warning("batch %s write to %s failed (%s); retrying", batch.id,
                            conn.endpoint, _describe(exc))
                await self._on_error(conn, exc)
                await self._backoff(attempt)
                continue
            if resp.succeeded:
                self.batches_written += 1
                return int(resp.header.revision)
            # The key exists: an earlier attempt committed although we saw an error.
            stored = resp.responses[0].response_range.kvs
            if stored and stored[0].value == value:
                self.batches_written += 1
                return int(stored[0].create_revision)
            raise BatchConflict(f"batch key {key!r} holds another value")


class _Fatal(Exception):
    """A condition retrying cannot fix."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{exc.__class__.__name__}: {exc}"


# -- floor for catch-up decisions (snapshots) --------------------------------------------------


async def read_floor(config: NodeConfig, chain_id: str) -> int:
    """The window floor of ``chain_id`` (0 when absent), trying each endpoint in turn.

    A node whose last batch_seq is below it must restore a peer's snapshot before it starts.
    Raises ``EtcdUnavailable`` when no member answers (a TLS handshake refused included) and
    ``ValueError`` when a TLS file of the config cannot be read.
    """
    keys = Keys.of(config.etcd_prefix, chain_id)
    credentials = etcd_credentials(config)
    errors = []
    for endpoint in (normalize_endpoint(e) for e in config.etcd_endpoints):
        async with open_channel(endpoint, credentials) as channel:
            try:
                resp = await rpc.KVStub(channel).Range(rpc.RangeRequest(key=keys.floor),
                                                       timeout=config.etcd_timeout_s)
            except grpc.aio.AioRpcError as exc:
                errors.append(f"{endpoint}: {_describe(exc)}")
                continue
            return _decimal(resp.kvs)
    raise EtcdUnavailable("no etcd member answered: " + "; ".join(errors))


def read_floor_sync(config: NodeConfig, chain_id: str) -> int:
    """``read_floor`` for synchronous callers; runs on its own thread and loop, so it works
    whether or not the caller's thread runs an event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read_floor(config, chain_id)).result()
