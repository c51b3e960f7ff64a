"""Agreement: each node compares its signed tree heads with its peers' at the same height.

Every node executes the same ordered batches, so at any height every correct node has the same
tree size and Merkle root. A root that differs means a ledger has diverged (a bug, a damaged
store, a tampered node); a tree head whose signature does not verify means a peer, or someone
in between, lies. Both are alarms: an ERROR log line, ``consortia_peers_diverged`` and a
degraded ``/healthz``. Only nodes that this node's governance state lists as active are
compared: an unknown key proves nothing, whatever it signs.

The check runs as one asyncio task on the node's loop, every ``agreement_interval_ms``; each
round asks every peer concurrently, one request at a time per peer, each with a timeout, so a
slow or dead peer costs one connection and never delays the node's own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx

from consortia.crypto.hexbytes import fixed_hex
from consortia.crypto.keys import verify
from consortia.ledger.receipts import U64_LIMIT, SignedTreeHead, sth_message
from consortia.modules.governance import queries
from consortia.node.config import peers_ssl_context
from consortia.node.orderer import now_ms

if TYPE_CHECKING:
    from consortia.node.node import Node

log = logging.getLogger(__name__)

PeerStatus = Literal["unchecked", "agrees", "diverged", "unreachable", "unknown_peer",
                     "bad_signature"]
# States that need an operator: /healthz turns degraded (503) while any peer is in one.
ALARM_STATUSES: frozenset[str] = frozenset({"diverged", "bad_signature"})
# One HTTP request to a peer; a peer slower than this is reported unreachable for the round.
REQUEST_TIMEOUT_S_DEFAULT = 5.0
# A peer answer larger than this is not a tree head (they are ~400 bytes); refused unread.
RESPONSE_BYTES_MAX = 64 * 1024
KEY_BYTES = 32
HASH_BYTES = 32
SIGNATURE_BYTES = 64


class BadTreeHead(ValueError):
    """A tree head that is malformed or not signed by the expected node key."""


def _field(doc: dict[str, Any], name: str) -> Any:
    if name not in doc:
        raise BadTreeHead(f"tree head has no field {name}")
    return doc[name]


def _u64(doc: dict[str, Any], name: str) -> int:
    value = _field(doc, name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < U64_LIMIT:
        raise BadTreeHead(f"tree head {name} is not an integer in 0..2^64-1")
    return value


def _hex(doc: dict[str, Any], name: str, size: int) -> bytes:
    raw = fixed_hex(_field(doc, name), size)
    if raw is None:
        raise BadTreeHead(f"tree head {name} is not {size} bytes of hex")
    return raw


def parse_tree_head(doc: Any) -> SignedTreeHead:
    """The tree head in ``doc`` (the JSON of ``GET /v1/sth``), its signature NOT checked yet;
    BadTreeHead when it is malformed."""
    if not isinstance(doc, dict):
        raise BadTreeHead("tree head is not a JSON object")
    return SignedTreeHead(
        tree_size=_u64(doc, "tree_size"), root_hash=_hex(doc, "root_hash", HASH_BYTES),
        height=_u64(doc, "height"), time_ms=_u64(doc, "time_ms"),
        signature=_hex(doc, "signature", SIGNATURE_BYTES),
        node_key=_hex(doc, "node_key", KEY_BYTES))


def tree_head_from_json(doc: Any, node_key: bytes) -> SignedTreeHead:
    """The tree head in ``doc`` (the JSON of ``GET /v1/sth``), once its signature verifies with
    ``node_key``; BadTreeHead says what is wrong otherwise.

    The key is the caller's (from governance), never the one the document names, so a peer
    cannot vouch for itself.
    """
    sth = parse_tree_head(doc)
    if sth.node_key != node_key:
        raise BadTreeHead("tree head names another node key")
    message = sth_message(sth.tree_size, sth.root_hash, sth.height, sth.time_ms)
    if not verify(node_key, message, sth.signature):
        raise BadTreeHead("tree head signature does not verify")
    return sth


@dataclass
class PeerState:
    """What this node last learnt about one peer (``GET /v1/peers`` shows it)."""

    url: str
    node_id: str | None = None  # from governance once the key is known to be active
    node_key: str | None = None  # hex, as the peer published it in /v1/chain
    status: PeerStatus = "unchecked"
    height: int | None = None  # the height at which the last comparison was made
    peer_height: int | None = None  # the peer's latest verified height
    last_checked_ms: int | None = None
    detail: str = ""
    # /v1/chain is read once, and again after the peer was unreachable or its head did not
    # verify: it may have restarted with another key. Caching only saves requests: the key
    # counts only while governance lists it as active.
    key_fresh: bool = field(default=False, repr=False)
    chain: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json_dict(self) -> dict[str, Any]:
        return {"url": self.url, "node_id": self.node_id, "node_key": self.node_key,
                "status": self.status, "height": self.height, "peer_height": self.peer_height,
                "last_checked_ms": self.last_checked_ms, "detail": self.detail}


class PeerUnreachable(Exception):
    """A peer did not answer, or answered with an error or garbage."""


class Agreement:
    """Compares this node's tree heads with each peer's; one per node.

    Divergence is sticky: once a peer's root differs from ours at some height, the peer stays
    ``diverged`` until this node restarts, and is not asked again. At least one of the two
    ledgers is wrong at that height and every block after it builds on it, so nothing a later
    check finds can make them agree again; the alarm must stay up until operators have looked
    (and restarted the node they repaired), not flap away at the next round.
    """

    def __init__(self, node: Node, peers: Sequence[str] | None = None, *,
                 interval_ms: int | None = None,
                 request_timeout_s: float = REQUEST_TIMEOUT_S_DEFAULT) -> None:
        urls = list(node.config.peers if peers is None else peers)
        assert request_timeout_s > 0, request_timeout_s
        self.node = node
        self.interval_ms = node.config.agreement_interval_ms if interval_ms is None else interval_ms
        assert self.interval_ms > 0, self.interval_ms
        self.request_timeout_s = request_timeout_s
        # Duplicates would be asked twice per round and counted twice in the gauge.
        self._peers: dict[str, PeerState] = {}
        for url in urls:
            url = url.rstrip("/")
            self._peers.setdefault(url, PeerState(url))
        # Read now, so a bad peers_ca_file stops the node at start (ValueError naming it).
        self._peers_ca = peers_ssl_context(node.config)
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self.rounds = 0  # completed rounds, so tests and operators can wait for a fresh one

    # -- reading ---------------------------------------------------------------------------

    def peers(self) -> list[PeerState]:
        return list(self._peers.values())

    def alarmed(self) -> list[PeerState]:
        """Peers that diverged or sent a tree head that does not verify."""
        return [p for p in self._peers.values() if p.status in ALARM_STATUSES]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start checking on ``loop`` (call it from that loop's thread, as a lifespan does)."""
        assert self._task is None, "agreement already started"
        if not self._peers:
            return  # a single node has nobody to agree with
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.request_timeout_s),
            limits=httpx.Limits(max_connections=len(self._peers),
                                max_keepalive_connections=len(self._peers)),
            # Peers are named by the operator: no proxy from the environment in between.
            trust_env=False, follow_redirects=False,
            verify=True if self._peers_ca is None else self._peers_ca)
        self._task = loop.create_task(self._run(), name="agreement")

    async def stop(self) -> None:
        """Stop checking; idempotent. Called before the node stops (its store closes)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval_s = self.interval_ms / 1000
        while True:
            started = loop.time()
            try:
                await self.check_round()
            except Exception:  # never let one bad round end the alarm for good
                log.exception("agreement round failed")
            await asyncio.sleep(max(0.0, interval_s - (loop.time() - started)))

    async def check_round(self) -> None:
        """Ask every peer once, concurrently (so one request in flight per peer)."""
        assert self._http is not None, "start() first"
        peers = list(self._peers.values())
        outcomes = await asyncio.gather(*(self._check(self._http, p) for p in peers),
                                        return_exceptions=True)
        for peer, outcome in zip(peers, outcomes, strict=True):
            if isinstance(outcome, Exception):  # ours, not the peer's: say so, go on
                log.error("agreement check of %s failed", peer.url, exc_info=outcome)
        self.node.metrics.peers_diverged.set(
            sum(1 for p in self._peers.values() if p.status == "diverged"))
        self.rounds += 1

    # -- one peer --------------------------------------------------------------------------

    async def _check(self, http: httpx.AsyncClient, peer: PeerState) -> None:
        if peer.status == "diverged":
            return  # sticky: see the class docstring
        try:
            status, detail, height = await self._compare(http, peer)
        except PeerUnreachable as exc:
            peer.key_fresh = False
            status, detail, height = "unreachable", str(exc), None
        except BadTreeHead as exc:
            # Read /v1/chain again next round: a peer restarted with another (active) key
            # recovers by itself, a lying one stays in alarm.
            peer.key_fresh = False
            status, detail, height = "bad_signature", str(exc), None
        peer.last_checked_ms = now_ms()
        peer.height = height
        self.node.metrics.agreement_checks.labels(status).inc()
        self._set(peer, status, detail)

    def _set(self, peer: PeerState, status: PeerStatus, detail: str) -> None:
        changed = status != peer.status
        peer.status, peer.detail = status, detail
        if not changed:
            return
        # Once per change, so a lasting problem is one line, not one per round.
        level = (logging.ERROR if status in ALARM_STATUSES else
                 logging.WARNING if status in ("unreachable", "unknown_peer") else logging.INFO)
        log.log(level, "peer %s (%s) %s: %s", peer.url, peer.node_id or peer.node_key or "?",
                status, detail)

    async def _get(self, http: httpx.AsyncClient, url: str) -> Any:
        body = bytearray()
        try:
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise PeerUnreachable(f"GET {url}: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > RESPONSE_BYTES_MAX:
                        raise PeerUnreachable(
                            f"GET {url}: answer larger than {RESPONSE_BYTES_MAX} bytes")
        except httpx.HTTPError as exc:
            raise PeerUnreachable(f"GET {url}: {exc.__class__.__name__}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise PeerUnreachable(f"GET {url}: not JSON") from None

    async def _chain_info(self, http: httpx.AsyncClient, peer: PeerState) -> dict[str, Any]:
        if peer.key_fresh:
            return peer.chain
        info = await self._get(http, f"{peer.url}/v1/chain")
        if not isinstance(info, dict) or not isinstance(info.get("node_key"), str):
            raise PeerUnreachable(f"{peer.url}/v1/chain has no node_key")
        peer.node_key = info["node_key"]
        peer.chain = info
        peer.key_fresh = True
        return info

    async def _compare(self, http: httpx.AsyncClient, peer: PeerState,
                       ) -> tuple[PeerStatus, str, int | None]:
        node = self.node
        info = await self._chain_info(http, peer)
        key_hex = str(info["node_key"])
        active = {n.key: n for n in queries.nodes(node.chain.state) if n.status == "active"}
        member = active.get(key_hex)
        if member is None:
            peer.node_id = None
            return "unknown_peer", f"key {key_hex[:16]}… is not an active node of this chain", None
        peer.node_id = member.id
        genesis_hex = node.genesis.digest().hex()
        if info.get("chain_id") != node.chain_id or info.get("genesis_hash") != genesis_hex:
            return "diverged", (f"peer runs chain {info.get('chain_id')!r} with genesis "
                                f"{str(info.get('genesis_hash'))[:16]}…, not ours"), 0
        key = bytes.fromhex(key_hex)
        latest = tree_head_from_json(await self._get(http, f"{peer.url}/v1/sth"), key)
        peer.peer_height = latest.height
        node.metrics.peer_height.labels(peer.url).set(latest.height)
        ours_height = node.chain.head.height
        if latest.height <= ours_height:
            theirs = latest
        else:
            # The peer is ahead: ask for its head at our height, so the lagging side checks too.
            theirs = tree_head_from_json(
                await self._get(http, f"{peer.url}/v1/sth/{ours_height}"), key)
            if theirs.height != ours_height:
                raise BadTreeHead(f"asked for height {ours_height}, got {theirs.height}")
        ours = node.chain.sth_at(theirs.height)
        # Blocks are never deleted and the head only grows: any height <= head is stored.
        assert ours is not None, theirs.height
        if ours.tree_size != theirs.tree_size or ours.root_hash != theirs.root_hash:
            return "diverged", (
                f"at height {theirs.height} the peer has tree_size {theirs.tree_size} root "
                f"{theirs.root_hash.hex()}, we have tree_size {ours.tree_size} root "
                f"{ours.root_hash.hex()}"), theirs.height
        return "agrees", f"same tree_size and root at height {theirs.height}", theirs.height
