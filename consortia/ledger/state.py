"""Namespaced key-value state and the per-transaction view modules execute against.

Keys are ``module/entity/id``. Values are msgpack bytes: a module gets a fresh object on every
read, so a rejected tx can never have mutated committed state through an alias.

Three layers: committed (in memory, mirrors SQLite) ← block overlay ← tx overlay. A tx's writes
reach the block overlay only when it is accepted; the block overlay is written to SQLite in the
same SQLite transaction as its block, then folded into committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import msgspec
from sortedcontainers import SortedList

from consortia.ledger.result import Rejected

T = TypeVar("T")

# The signer a governance-enacted action runs as. No real tx can carry it: it is not a key,
# so such a tx would fail signature verification and be dropped.
GOVERNANCE_SIGNER = "governance"

# (context, kind, payload, dry_run) -> result data; provided by the executor.
Invoker = Callable[["Context", str, dict[str, Any], bool], "dict[str, Any] | None"]

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}

_ABSENT = object()

# Marks a deletion in an overlay.
DELETED: bytes | None = None

# Writes committed per hold of the state's lock: a block of new records (thousands of sorted
# inserts) never keeps a reader listing keys waiting for more than a few milliseconds.
APPLY_CHUNK_WRITES = 256


def encode_value(value: Any) -> bytes:
    return _encoder.encode(value)


def decode_value(raw: bytes, type_: type[T]) -> T:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.msgpack.Decoder(type_)
    return decoder.decode(raw)  # type: ignore[no-any-return]


def namespace(key: str) -> str:
    """The first two path segments with their slashes (``"governance/member/"``), or less."""
    first = key.find("/")
    if first < 0:
        return ""
    second = key.find("/", first + 1)
    return key[: second + 1] if second >= 0 else key[: first + 1]


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: no bound)."""
    if not prefix:
        return None
    last = ord(prefix[-1])
    assert last < 0x10FFFF, prefix
    return prefix[:-1] + chr(last + 1)


def key_bounds(prefix: str, start: str, stop: str | None) -> tuple[str, str | None]:
    """``[low, high)`` of the keys under ``prefix`` with ``start <= key < stop``."""
    high = prefix_end(prefix)
    if stop is not None and (high is None or stop < high):
        high = stop
    return max(prefix, start), high


def _in_bounds(key: str, low: str, high: str | None) -> bool:
    return key >= low and (high is None or key < high)


class Reader:
    """Typed reads shared by committed state, overlays and a tx's context."""

    def get_raw(self, key: str) -> bytes | None:
        raise NotImplementedError

    def keys(self, prefix: str, *, start: str = "", stop: str | None = None,
             limit: int | None = None) -> list[str]:
        """Live keys under ``prefix``, sorted; only those with ``start <= key < stop`` when
        given, and the first ``limit`` of them."""
        raise NotImplementedError

    def count(self, prefix: str, *, start: str = "", stop: str | None = None) -> int:
        """How many keys ``keys`` lists (without a limit), without listing them."""
        raise NotImplementedError

    def get(self, key: str, type_: type[T]) -> T | None:
        raw = self.get_raw(key)
        return None if raw is None else decode_value(raw, type_)

    def has(self, key: str) -> bool:
        return self.get_raw(key) is not None

    def records(self, prefix: str, type_: type[T]) -> list[T]:
        """Every record under ``prefix`` in key order."""
        out = []
        for key in self.keys(prefix):
            raw = self.get_raw(key)
            assert raw is not None, key
            out.append(decode_value(raw, type_))
        return out


class State(Reader):
    """Committed state held in memory, with its keys kept sorted per namespace.

    Listing the keys under a prefix costs O(log n + k) (a history among a registry's millions of
    transitions, one page of an index), and counting them O(log n), whatever the size of the
    namespace or of the whole state.
    """

    def __init__(self, items: Mapping[str, bytes] | None = None) -> None:
        self.items: dict[str, bytes] = {}
        self._namespaces: dict[str, SortedList] = {}
        # API threads list keys while the executor thread applies a block. A SortedList is
        # rebalanced by Python code, so a reader slicing it mid-insert could skip keys or raise:
        # listing, counting and changing the sorted lists hold this lock. Applying takes it
        # per chunk of keys, not per block, to bound how long a reader waits; so, as point
        # reads (get_raw, lock-free: one dict lookup) always could, a listing may see part of
        # a block.
        self._lock = threading.Lock()
        if items:
            # Start-up loads the whole state: sort each namespace once instead of n inserts.
            grouped: dict[str, list[str]] = {}
            for key, raw in items.items():
                assert raw is not None, key
                self.items[key] = raw
                grouped.setdefault(namespace(key), []).append(key)
            self._namespaces = {ns: SortedList(keys) for ns, keys in grouped.items()}

    def get_raw(self, key: str) -> bytes | None:
        return self.items.get(key)

    def _indexes(self, prefix: str) -> list[SortedList]:
        """The namespaces that can hold keys under ``prefix`` (one when it names its
        namespace, i.e. has two slashes); the caller holds the lock."""
        if prefix.count("/") >= 2:
            found = self._namespaces.get(namespace(prefix))
            return [] if found is None else [found]
        return [index for ns, index in self._namespaces.items()
                if ns.startswith(prefix) or prefix.startswith(ns)]

    def keys(self, prefix: str, *, start: str = "", stop: str | None = None,
             limit: int | None = None) -> list[str]:
        assert limit is None or limit >= 0, limit
        low, high = key_bounds(prefix, start, stop)
        out: list[str] = []
        with self._lock:
            indexes = self._indexes(prefix)
            for index in indexes:
                first = index.bisect_left(low)
                end = len(index) if high is None else index.bisect_left(high)
                if limit is not None:
                    end = min(end, first + limit)
                if end > first:
                    out.extend(index[first:end])
        if len(indexes) > 1:
            out.sort()
            if limit is not None:
                del out[limit:]
        return out

    def count(self, prefix: str, *, start: str = "", stop: str | None = None) -> int:
        low, high = key_bounds(prefix, start, stop)
        total = 0
        with self._lock:
            for index in self._indexes(prefix):
                end = len(index) if high is None else index.bisect_left(high)
                total += max(0, end - index.bisect_left(low))
        return total

    def scan(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        """Committed records under ``prefix`` in key order."""
        for key in self.keys(prefix):
            yield key, self.items[key]

    def apply(self, writes: Mapping[str, bytes | None]) -> None:
        # Only the executor thread writes, so which keys are new or gone is known before
        # locking. Records go in before their keys are listed and out after, so a listed key
        # has its record.
        items = self.items
        added = sorted(k for k, raw in writes.items() if raw is not None and k not in items)
        removed = [k for k, raw in writes.items() if raw is None and k in items]
        for key, raw in writes.items():
            if raw is not None:
                items[key] = raw
        # In key order, consecutive inserts land in the same part of a sorted list: about three
        # times faster than in write order.
        for first in range(0, len(added), APPLY_CHUNK_WRITES):
            with self._lock:
                for key in added[first:first + APPLY_CHUNK_WRITES]:
                    index = self._namespaces.get(namespace(key))
                    if index is None:
                        index = self._namespaces[namespace(key)] = SortedList()
                    index.add(key)
        for first in range(0, len(removed), APPLY_CHUNK_WRITES):
            with self._lock:
                for key in removed[first:first + APPLY_CHUNK_WRITES]:
                    self._namespaces[namespace(key)].remove(key)
        for key in removed:
            del items[key]


class Overlay(Reader):
    """Uncommitted writes over a base (committed state, or another overlay)."""

    __slots__ = ("_layers", "base", "writes")

    def __init__(self, base: State | Overlay) -> None:
        self.base = base
        self.writes: dict[str, bytes | None] = {}
        # Every dict a read looks in, newest first (tx → block → committed): reads sit on the
        # hot path of every tx, so they walk a tuple instead of a chain of objects.
        below = (base.items,) if isinstance(base, State) else base._layers
        self._layers: tuple[Mapping[str, bytes | None], ...] = (self.writes, *below)

    def get_raw(self, key: str) -> bytes | None:
        for layer in self._layers:
            raw = layer.get(key, _ABSENT)
            if raw is not _ABSENT:
                return raw  # type: ignore[return-value]
        return None

    def keys(self, prefix: str, *, start: str = "", stop: str | None = None,
             limit: int | None = None) -> list[str]:
        assert limit is None or limit >= 0, limit
        low, high = key_bounds(prefix, start, stop)
        changed = [(k, raw) for k, raw in self.writes.items() if _in_bounds(k, low, high)]
        if not changed:
            return self.base.keys(prefix, start=start, stop=stop, limit=limit)
        # Each deletion here can hide one of the base's first keys: ask the base for that many
        # more, so the first ``limit`` live keys are among them.
        deleted = sum(1 for _, raw in changed if raw is None)
        keys = set(self.base.keys(prefix, start=start, stop=stop,
                                  limit=None if limit is None else limit + deleted))
        for key, raw in changed:
            if raw is None:
                keys.discard(key)
            else:
                keys.add(key)
        out = sorted(keys)
        return out if limit is None else out[:limit]

    def count(self, prefix: str, *, start: str = "", stop: str | None = None) -> int:
        low, high = key_bounds(prefix, start, stop)
        total = self.base.count(prefix, start=start, stop=stop)
        for key, raw in self.writes.items():
            if _in_bounds(key, low, high):
                below = self.base.get_raw(key) is not None
                total += (raw is not None and not below) - (raw is None and below)
        return total

    def merge_into_base(self) -> None:
        if isinstance(self.base, State):
            self.base.apply(self.writes)
        else:
            self.base.writes.update(self.writes)
        self.writes = {}


class Context(Reader):
    """What module logic sees while executing one tx: block facts, the signer, and state.

    Block time and the previous block hash are the only sources of time and randomness:
    modules never read a clock, the network, the disk or a random source.
    """

    __slots__ = ("chain_id", "device", "height", "invoker", "kind", "overlay", "seed", "signer",
                 "time_ms", "tx_id")

    def __init__(self, *, overlay: Overlay, chain_id: str, height: int, time_ms: int,
                 seed: bytes, tx_id: bytes, signer: str, kind: str,
                 device: Any = None, invoker: Invoker | None = None) -> None:
        self.overlay = overlay
        self.chain_id = chain_id
        self.height = height
        self.time_ms = time_ms
        self.seed = seed
        self.tx_id = tx_id
        self.signer = signer
        self.kind = kind
        self.device = device
        self.invoker = invoker

    def get_raw(self, key: str) -> bytes | None:
        return self.overlay.get_raw(key)

    def get(self, key: str, type_: type[T]) -> T | None:
        raw = self.overlay.get_raw(key)
        return None if raw is None else decode_value(raw, type_)

    def keys(self, prefix: str, *, start: str = "", stop: str | None = None,
             limit: int | None = None) -> list[str]:
        return self.overlay.keys(prefix, start=start, stop=stop, limit=limit)

    def count(self, prefix: str, *, start: str = "", stop: str | None = None) -> int:
        return self.overlay.count(prefix, start=start, stop=stop)

    def invoke(self, kind: str, payload: dict[str, Any], *, dry_run: bool = False,
               ) -> dict[str, Any] | None:
        """Run the action ``kind`` as the consortium (signer ``GOVERNANCE_SIGNER``) within
        this tx; only governance does this, to enact a proposal. Raises Rejected like the
        action does; with ``dry_run`` nothing is kept."""
        if self.invoker is None:
            raise Rejected("not_invocable", "actions cannot be invoked here")
        return self.invoker(self, kind, payload, dry_run)

    def put(self, key: str, value: Any) -> None:
        self.overlay.writes[key] = encode_value(value)

    def delete(self, key: str) -> None:
        self.overlay.writes[key] = DELETED
