"""Namespaced key-value state and the per-transaction view modules execute against.

Keys are ``module/entity/id``. Values are msgpack bytes: a module gets a fresh object on every
read, so a rejected tx can never have mutated committed state through an alias.

Three layers: committed (in memory, mirrors SQLite) ← block overlay ← tx overlay. A tx's writes
reach the block overlay only when it is accepted; the block overlay is written to SQLite in the
same SQLite transaction as its block, then folded into committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import msgspec

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


class Reader:
    """Typed reads shared by committed state, overlays and a tx's context."""

    def get_raw(self, key: str) -> bytes | None:
        raise NotImplementedError

    def keys(self, prefix: str) -> list[str]:
        """Live keys under ``prefix``, sorted."""
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
    """Committed state held in memory, with its keys indexed by namespace.

    The index makes listing a namespace (the members, say) cost its own size, not the size of
    the whole state (every wallet).
    """

    def __init__(self, items: Mapping[str, bytes] | None = None) -> None:
        self.items: dict[str, bytes] = {}
        self._namespaces: dict[str, set[str]] = {}
        if items:
            self.apply(items)

    def get_raw(self, key: str) -> bytes | None:
        return self.items.get(key)

    def keys(self, prefix: str) -> list[str]:
        # list() copies in one step under the GIL: API threads list keys while the executor
        # thread applies a block, and iterating a set that changes size raises.
        if prefix.count("/") >= 2:
            candidates = list(self._namespaces.get(namespace(prefix), ()))
        else:
            candidates = list(self.items)
        return sorted(k for k in candidates if k.startswith(prefix))

    def scan(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        """Committed records under ``prefix`` in key order."""
        for key in self.keys(prefix):
            yield key, self.items[key]

    def apply(self, writes: Mapping[str, bytes | None]) -> None:
        for key, raw in writes.items():
            if raw is None:
                if self.items.pop(key, None) is not None:
                    self._namespaces[namespace(key)].discard(key)
            else:
                if key not in self.items:
                    self._namespaces.setdefault(namespace(key), set()).add(key)
                self.items[key] = raw


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

    def keys(self, prefix: str) -> list[str]:
        keys = set(self.base.keys(prefix))
        for key, raw in self.writes.items():
            if key.startswith(prefix):
                if raw is None:
                    keys.discard(key)
                else:
                    keys.add(key)
        return sorted(keys)

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

    def keys(self, prefix: str) -> list[str]:
        return self.overlay.keys(prefix)

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
