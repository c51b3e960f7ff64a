"""Catching a node up from a peer's snapshot of its ledger, checked before it is used.

A node that was away longer than the etcd window (or a new node joining a consortium that has
run for a while) cannot replay the batches it missed from etcd: they were deleted. It fetches
a consistent copy of a peer's SQLite ledger instead. The copy is trusted for nothing:

1. its shape is checked (exact schema, SQLite integrity, row counts that replay relies on);
2. every stored block is re-executed from *our* genesis (``consortia.ledger.replay``): every
   result, leaf, block hash, tree head and the peer's signature on every tree head;
3. the peer's key must be an active node in the state that re-execution produced, so only a
   node the members admitted can vouch for a snapshot;
4. other peers' signed tree heads at the same height must not contradict it;
5. only then are its tree heads re-signed with this node's key (the receipts this node serves
   are its own) and the file moved into place atomically, never over a longer or different
   ledger.

The node must not be running while a snapshot is installed: ``consortia node start`` does it
before it opens the ledger.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import sqlite3
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

import httpx
import msgspec

from consortia.crypto.keys import SigningKey, verify
from consortia.ledger.executor import Executor
from consortia.ledger.genesis import Genesis
from consortia.ledger.module import Module
from consortia.ledger.receipts import SignedTreeHead, sth_message
from consortia.ledger.replay import ReplayError, ReplayReport, replay
from consortia.ledger.state import decode_value
from consortia.ledger.store import SCHEMA, BlockRow, Store
from consortia.ledger.tx import MalformedTx
from consortia.modules.governance.types import ACTIVE, NODE_PREFIX
from consortia.modules.governance.types import Node as NodeRecord
from consortia.node.agreement import parse_tree_head
from consortia.node.config import NodeConfig, peers_ssl_context

SNAPSHOT_PATH = "/v1/snapshot"
# A ledger of a few hundred million txs; a peer offering more is refused before any byte is
# written.
SNAPSHOT_BYTES_MAX = 16 * 1024**3
FETCH_CHUNK_BYTES = 1024 * 1024
# Seconds without a byte from the peer before giving up (the peer copies its ledger before the
# first byte, so this is also the time that copy may take).
FETCH_TIMEOUT_S = 300.0
CONNECT_TIMEOUT_S = 10.0
WITNESS_TIMEOUT_S = 10.0
ERROR_BODY_BYTES_MAX = 4096
RESIGN_PAGE_BLOCKS = 10_000
# Free disk space kept beyond the snapshot itself, so installing one never fills the disk.
DISK_MARGIN_BYTES = 64 * 1024 * 1024

HEADER_CHAIN_ID = "x-consortia-snapshot-chain-id"
HEADER_GENESIS_HASH = "x-consortia-snapshot-genesis-hash"
HEADER_NODE_KEY = "x-consortia-snapshot-node-key"
HEADER_HEIGHT = "x-consortia-snapshot-height"
HEADER_TREE_SIZE = "x-consortia-snapshot-tree-size"
HEADER_ROOT_HASH = "x-consortia-snapshot-root-hash"
HEADER_BATCH_SEQ = "x-consortia-snapshot-batch-seq"

_BLOCK_COLUMNS = ", ".join(BlockRow._fields)


class SnapshotError(RuntimeError):
    """A snapshot that cannot be fetched or must not be used; the message says why."""


class NotNewer(SnapshotError):
    """The local ledger already holds everything the snapshot holds (same or longer chain)."""


class SnapshotHead(NamedTuple):
    """What a snapshot file ends with: its last block and the orderer position after it."""

    height: int
    tree_size: int
    root_hash: bytes
    batch_seq: int


class SnapshotInfo(NamedTuple):
    """A downloaded snapshot and what its peer said about it (checked by install_snapshot)."""

    path: Path
    size_bytes: int
    chain_id: str
    genesis_hash: bytes
    node_key: str  # hex: the key the peer says signed its tree heads
    head: SnapshotHead


class InstallReport(NamedTuple):
    head: SnapshotHead
    replayed: ReplayReport
    peer_node_id: str
    previous_height: int | None  # the local ledger's height before, None when there was none
    confirmed_by: list[str]  # "<node id> at height <h>" for each witness that agreed
    unconfirmed: list[str]  # "<url>: <why>" for each witness that could not say


# -- serving -------------------------------------------------------------------------------


def copy_ledger(db_path: Path, dest: Path) -> SnapshotHead:
    """A consistent copy of a live ledger into ``dest`` (SQLite's backup API, in one step, so
    one read transaction: the executor keeps committing meanwhile), as a self-contained file
    (rollback journal, no -wal beside it)."""
    src = sqlite3.connect(db_path, isolation_level=None)
    try:
        src.execute("PRAGMA busy_timeout=5000")
        dst = sqlite3.connect(dest, isolation_level=None)
        try:
            src.backup(dst)
            # The copy inherits WAL mode from its source; a file travelling alone must not
            # depend on a -wal beside it.
            mode = dst.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if mode != "delete":
                raise SnapshotError(f"the copy stayed in journal mode {mode}")
            head = _head(dst)
            if head is None:
                raise SnapshotError("the ledger holds no blocks yet")
            return SnapshotHead(head.height, head.tree_size, head.root_hash, _batch_seq(dst))
        finally:
            dst.close()
    finally:
        src.close()


def snapshot_headers(head: SnapshotHead, chain_id: str, genesis_hash: bytes,
                     node_key_hex: str) -> dict[str, str]:
    """The response headers that name what a snapshot holds and who signed it."""
    return {HEADER_CHAIN_ID: chain_id, HEADER_GENESIS_HASH: genesis_hash.hex(),
            HEADER_NODE_KEY: node_key_hex, HEADER_HEIGHT: str(head.height),
            HEADER_TREE_SIZE: str(head.tree_size), HEADER_ROOT_HASH: head.root_hash.hex(),
            HEADER_BATCH_SEQ: str(head.batch_seq)}


# -- fetching ------------------------------------------------------------------------------


def fetch_snapshot(peer_url: str, node_key: SigningKey, dest: Path, *,
                   bytes_max: int = SNAPSHOT_BYTES_MAX, timeout_s: float = FETCH_TIMEOUT_S,
                   genesis_hash: bytes | None = None,
                   peers_ca: ssl.SSLContext | None = None) -> SnapshotInfo:
    """Download a peer's snapshot into ``dest`` (which must not exist), streamed, at most
    ``bytes_max`` bytes, the request signed by ``node_key`` (the peer serves active nodes only).

    ``genesis_hash``: refuse a peer of another chain before downloading anything. Nothing in
    the file is trusted yet: ``install_snapshot`` checks it. SnapshotError says what failed;
    ``dest`` is then removed. ``peers_ca``: check the peer's certificate with it rather than
    httpx's default CAs (``peers_ssl_context``).
    """
    from consortia.api.request_signing import sign_request

    url = httpx.URL(peer_url.rstrip("/") + SNAPSHOT_PATH)
    headers = sign_request(node_key, "GET", url.raw_path.decode("ascii"))
    timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
    try:
        file = dest.open("xb")  # ours from here on: removed on any failure
    except FileExistsError:
        raise SnapshotError(f"{dest} exists; refusing to overwrite it") from None
    try:
        with file, httpx.Client(timeout=timeout, verify=_verify(peers_ca)) as client, \
                client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise SnapshotError(f"{peer_url} refused: {_refusal(response)}")
            info = _parse_headers(response.headers, dest, peer_url)
            if genesis_hash is not None and info.genesis_hash != genesis_hash:
                raise SnapshotError(f"{peer_url} serves chain {info.chain_id!r} of another "
                                    "genesis")
            declared = _declared_length(response.headers, peer_url)
            if declared is not None:
                if declared > bytes_max:
                    raise SnapshotError(f"{peer_url} offers {declared} bytes, more than the "
                                        f"limit of {bytes_max}")
                _need_space(dest.parent, declared)
            size = _receive(response, file, bytes_max, peer_url)
            if declared is not None and size != declared:
                raise SnapshotError(f"{peer_url} sent {size} of {declared} bytes")
    except httpx.HTTPError as exc:
        _remove(dest)
        raise SnapshotError(f"cannot fetch a snapshot from {peer_url}: "
                            f"{exc.__class__.__name__}: {exc}") from None
    except BaseException:
        _remove(dest)
        raise
    return info._replace(size_bytes=size)


def _verify(peers_ca: ssl.SSLContext | None) -> ssl.SSLContext | bool:
    return True if peers_ca is None else peers_ca


def _refusal(response: httpx.Response) -> str:
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= ERROR_BODY_BYTES_MAX:
            break
    try:
        error = msgspec.json.decode(body[:ERROR_BODY_BYTES_MAX])
    except msgspec.DecodeError:
        error = None
    if isinstance(error, dict) and "code" in error:
        return f"{response.status_code} {error['code']}: {error.get('message', '')}"
    return f"HTTP {response.status_code}"


def _parse_headers(headers: httpx.Headers, dest: Path, peer_url: str) -> SnapshotInfo:
    try:
        head = SnapshotHead(int(headers[HEADER_HEIGHT]), int(headers[HEADER_TREE_SIZE]),
                            bytes.fromhex(headers[HEADER_ROOT_HASH]),
                            int(headers[HEADER_BATCH_SEQ]))
        return SnapshotInfo(dest, 0, headers[HEADER_CHAIN_ID],
                            bytes.fromhex(headers[HEADER_GENESIS_HASH]),
                            bytes.fromhex(headers[HEADER_NODE_KEY]).hex(), head)
    except (KeyError, ValueError):
        raise SnapshotError(f"{peer_url} sent no snapshot (its headers are missing or "
                            "malformed)") from None


def _declared_length(headers: httpx.Headers, peer_url: str) -> int | None:
    text = headers.get("content-length")
    if text is None:
        return None
    if not text.isdigit():
        raise SnapshotError(f"{peer_url} sent a malformed Content-Length")
    return int(text)


def _need_space(folder: Path, size_bytes: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < size_bytes + DISK_MARGIN_BYTES:
        raise SnapshotError(f"{folder} has {free} bytes free; the snapshot needs {size_bytes} "
                            f"plus a margin of {DISK_MARGIN_BYTES}")


def _receive(response: httpx.Response, file: BinaryIO, bytes_max: int, peer_url: str) -> int:
    size = 0
    for chunk in response.iter_bytes(FETCH_CHUNK_BYTES):
        size += len(chunk)
        if size > bytes_max:
            raise SnapshotError(f"{peer_url} sent more than the limit of {bytes_max} bytes")
        file.write(chunk)
    file.flush()
    os.fsync(file.fileno())
    return size


# -- installing ----------------------------------------------------------------------------


def install_snapshot(tmp_db: Path, data_dir: Path, genesis: Genesis, own_key: SigningKey,
                     peer_key_hex: str, executor_modules: list[Module], *,
                     witness_urls: Sequence[str] = (), witnesses_min: int = 0,
                     witness_timeout_s: float = WITNESS_TIMEOUT_S,
                     peers_ca: ssl.SSLContext | None = None) -> InstallReport:
    """Check the snapshot file ``tmp_db`` (see the module docstring), re-sign its tree heads
    with ``own_key`` and move it to ``<data_dir>/ledger.sqlite``.

    ``peer_key_hex`` is the key that must have signed every tree head in it. Other peers in
    ``witness_urls`` are asked for their signed tree head at the snapshot's height (or their
    latest, when they are behind): one that signed a different head refuses the snapshot;
    fewer than ``witnesses_min`` agreeing refuses it too (``peers_ca`` as in
    ``fetch_snapshot``). NotNewer when the local ledger already
    holds the same or a longer chain; SnapshotError for anything else. On any refusal nothing
    in ``data_dir`` changes (``tmp_db`` is left to the caller).
    """
    target = data_dir / "ledger.sqlite"
    try:
        peer_key = bytes.fromhex(peer_key_hex)
    except ValueError:
        raise SnapshotError("the peer key is not hex") from None
    head = _check_shape(tmp_db, genesis)
    relation, previous_height = _relation(target, tmp_db)
    if relation in ("same", "ahead"):
        raise NotNewer(f"the local ledger is at height {previous_height}, the snapshot at "
                       f"{head.height} of the same chain: nothing to install")
    replayed = _replay_checked(tmp_db, genesis, executor_modules, peer_key)
    nodes = _nodes(tmp_db)
    peer = next((n for n in nodes if n.key == peer_key_hex), None)
    if peer is None or peer.status != ACTIVE:
        raise SnapshotError("the snapshot's tree heads are signed by a key that is not an "
                            "active node in the snapshot's own governance state")
    active = {n.key: n.id for n in nodes if n.status == ACTIVE}
    confirmed, unconfirmed = _witness(tmp_db, head, active, peer_key_hex, witness_urls,
                                      witness_timeout_s, peers_ca)
    if len(confirmed) < witnesses_min:
        raise SnapshotError(f"only {len(confirmed)} other peers confirmed the snapshot's tree "
                            f"head, {witnesses_min} required")
    if relation == "diverged":
        raise SnapshotError(f"the local ledger (height {previous_height}) differs from the "
                            "verified snapshot: refusing to overwrite it; investigate before "
                            "moving it away")
    _resign(tmp_db, own_key)
    _replace(tmp_db, target)
    return InstallReport(head, replayed, peer.id, previous_height, confirmed, unconfirmed)


def local_batch_seq(db_path: Path) -> int:
    """Where a stopped node's orderer resumes: the ledger's meta batch_seq, 0 without one."""
    if not db_path.exists():
        return 0
    with contextlib.closing(_connect_existing(db_path)) as conn:
        try:
            return _batch_seq(conn)
        except sqlite3.OperationalError:
            return 0  # created but never initialised: nothing executed yet


def _connect_existing(path: Path) -> sqlite3.Connection:
    # mode=rw: never create a file that is not there.
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _head(conn: sqlite3.Connection) -> BlockRow | None:
    row = conn.execute(
        f"SELECT {_BLOCK_COLUMNS} FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
    return None if row is None else BlockRow(*row)


def _block(conn: sqlite3.Connection, height: int) -> BlockRow | None:
    row = conn.execute(f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE height = ?",
                       (height,)).fetchone()
    return None if row is None else BlockRow(*row)


def _batch_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'batch_seq'").fetchone()
    return 0 if row is None else int.from_bytes(bytes(row[0]), "big")


def _schema(conn: sqlite3.Connection) -> set[tuple[str, str, str, str | None]]:
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return {(str(t), str(n), str(tb), None if s is None else str(s)) for t, n, tb, s in rows}


def _check_shape(tmp_db: Path, genesis: Genesis) -> SnapshotHead:
    """What replay does not look at, or takes for granted: the schema (a trigger could rewrite
    rows after they were checked), the file's integrity (an index that disagrees with its
    table answers lookups differently from scans), that every block and tx row is one replay
    visits, and the meta rows the node reads at start."""
    expected = sqlite3.connect(":memory:")
    try:
        expected.executescript(SCHEMA)
        schema = _schema(expected)
    finally:
        expected.close()
    try:
        conn = _connect_existing(tmp_db)
    except sqlite3.Error as exc:
        raise SnapshotError(f"the snapshot cannot be opened: {exc}") from None
    with contextlib.closing(conn):
        try:
            if _schema(conn) != schema:
                raise SnapshotError("the snapshot's schema differs from a ledger's")
            problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(5)")]
            if problems != ["ok"]:
                raise SnapshotError(f"the snapshot file is damaged: {problems[0]}")
            head = _head(conn)
            if head is None:
                raise SnapshotError("the snapshot holds no blocks")
            blocks, lowest = conn.execute("SELECT count(*), min(height) FROM blocks").fetchone()
            if blocks != head.height + 1 or lowest != 0:
                raise SnapshotError("the snapshot's blocks are not heights 0..head, each once")
            txs, first, last = conn.execute(
                "SELECT count(*), min(leaf_index), max(leaf_index) FROM txs").fetchone()
            if txs != head.tree_size or (txs and (first, last) != (0, txs - 1)):
                raise SnapshotError("the snapshot's tx rows are not leaves 0..tree size - 1")
            misplaced = conn.execute(
                "SELECT count(*) FROM txs t LEFT JOIN blocks b ON b.height = t.height "
                "WHERE b.height IS NULL OR t.leaf_index >= b.tree_size "
                "OR t.leaf_index < b.tree_size - b.tx_count").fetchone()[0]
            if misplaced:
                raise SnapshotError(f"{misplaced} tx rows of the snapshot lie outside their "
                                    "block's leaves")
            stored = conn.execute("SELECT value FROM meta WHERE key = 'genesis'").fetchone()
            try:
                same = stored is not None and msgspec.json.decode(
                    bytes(stored[0]), type=Genesis) == genesis
            except msgspec.DecodeError:
                same = False
            if not same:
                raise SnapshotError("the snapshot is of another chain (its genesis differs "
                                    "from ours)")
            batch_seq = _batch_seq(conn)
            # The executor stores meta batch_seq with every block, so it is the head's.
            if head.height > 0 and batch_seq != head.batch_seq:
                raise SnapshotError(f"the snapshot's batch_seq {batch_seq} is not its head "
                                    f"block's ({head.batch_seq})")
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"the snapshot is not a ledger: {exc}") from None
    return SnapshotHead(head.height, head.tree_size, head.root_hash, batch_seq)


def _replay_checked(tmp_db: Path, genesis: Genesis, modules: list[Module],
                    peer_key: bytes) -> ReplayReport:
    try:
        store = Store(tmp_db)
    except sqlite3.Error as exc:
        raise SnapshotError(f"the snapshot cannot be opened: {exc}") from None
    try:
        return replay(store, genesis, Executor(genesis.chain_id, modules), peer_key)
    except ReplayError as exc:
        raise SnapshotError(f"the snapshot fails re-execution from our genesis: {exc}") from None
    except (sqlite3.Error, MalformedTx, msgspec.DecodeError) as exc:
        raise SnapshotError(f"the snapshot cannot be re-executed: {exc}") from None
    finally:
        store.close()


def _nodes(tmp_db: Path) -> list[NodeRecord]:
    with contextlib.closing(_connect_existing(tmp_db)) as conn:
        rows = conn.execute("SELECT value FROM state WHERE key >= ? AND key < ?",
                            (NODE_PREFIX, NODE_PREFIX + "\U0010ffff")).fetchall()
    return [decode_value(bytes(r[0]), NodeRecord) for r in rows]


def _relation(target: Path, tmp_db: Path) -> tuple[str, int | None]:
    """How the local ledger stands to the snapshot: "none" (no ledger, or one that never
    stored genesis), "behind" (a prefix of it), "same", "ahead" (it is a prefix of ours) or
    "diverged"; and the local height."""
    if not target.exists():
        return "none", None
    with contextlib.closing(_connect_existing(target)) as local, \
            contextlib.closing(_connect_existing(tmp_db)) as snap:
        try:
            tables = {r[0] for r in local.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            # A file created but never initialised (the schema is written at first open).
            mine = _head(local) if "blocks" in tables else None
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"the local ledger {target} cannot be read: {exc}") from None
        theirs = _head(snap)
        assert theirs is not None  # _check_shape ran first
        if mine is None:
            return "none", None
        if mine.height > theirs.height:
            at = _block(local, theirs.height)
            same = at is not None and at.hash == theirs.hash
            return ("ahead" if same else "diverged"), mine.height
        at = _block(snap, mine.height)
        if at is None or at.hash != mine.hash:
            return "diverged", mine.height
        return ("same" if mine.height == theirs.height else "behind"), mine.height


def _witness(tmp_db: Path, head: SnapshotHead, active: dict[str, str], peer_key_hex: str,
             urls: Sequence[str], timeout_s: float,
             peers_ca: ssl.SSLContext | None) -> tuple[list[str], list[str]]:
    """Ask other peers for their signed tree head at the snapshot's height (or their latest
    when behind) and compare it with the snapshot's block there. A head signed by an active
    node that differs refuses the snapshot; anything else that goes wrong only means that
    peer cannot confirm."""
    confirmed: list[str] = []
    unconfirmed: list[str] = []
    if not urls:
        return confirmed, unconfirmed
    with contextlib.closing(_connect_existing(tmp_db)) as snap, \
            httpx.Client(timeout=timeout_s, verify=_verify(peers_ca)) as client:
        for url in urls:
            base = url.rstrip("/")
            try:
                latest = _sth(client, base + "/v1/sth")
                sth = latest if latest.height <= head.height else _sth(
                    client, f"{base}/v1/sth/{head.height}")
            except (httpx.HTTPError, SnapshotError) as exc:
                unconfirmed.append(f"{url}: {exc}")
                continue
            key_hex = sth.node_key.hex()
            node_id = active.get(key_hex)
            if key_hex == peer_key_hex:
                unconfirmed.append(f"{url}: it is the snapshot's own peer")
                continue
            if node_id is None:
                unconfirmed.append(f"{url}: its key is not an active node")
                continue
            if not verify(sth.node_key,
                          sth_message(sth.tree_size, sth.root_hash, sth.height, sth.time_ms),
                          sth.signature):
                unconfirmed.append(f"{url}: its tree head signature does not verify")
                continue
            ours = _block(snap, sth.height)
            if ours is None or (ours.tree_size, ours.root_hash, ours.time_ms) != (
                    sth.tree_size, sth.root_hash, sth.time_ms):
                raise SnapshotError(f"node {node_id} ({url}) signed a different tree head at "
                                    f"height {sth.height}: the snapshot diverges from it")
            confirmed.append(f"{node_id} at height {sth.height}")
    return confirmed, unconfirmed


def _sth(client: httpx.Client, url: str) -> SignedTreeHead:
    """The tree head at ``url``, its signature not checked yet (``_witness`` does)."""
    response = client.get(url)
    if response.status_code != 200:
        raise SnapshotError(f"HTTP {response.status_code}")
    try:
        return parse_tree_head(response.json())
    except ValueError as exc:  # not JSON, or BadTreeHead (a ValueError) saying what is wrong
        raise SnapshotError(f"its tree head is malformed: {exc}") from None


def _resign(tmp_db: Path, own_key: SigningKey) -> None:
    """Sign every block's tree head with this node's key, in one transaction, and leave the
    file self-contained (rollback journal) for the move."""
    with contextlib.closing(_connect_existing(tmp_db)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            after = -1
            while True:
                rows = conn.execute(
                    "SELECT height, tree_size, root_hash, time_ms FROM blocks "
                    "WHERE height > ? ORDER BY height LIMIT ?",
                    (after, RESIGN_PAGE_BLOCKS)).fetchall()
                if not rows:
                    break
                conn.executemany(
                    "UPDATE blocks SET sth_signature = ? WHERE height = ?",
                    [(own_key.sign(sth_message(size, bytes(root), height, time_ms)), height)
                     for height, size, root, time_ms in rows])
                after = rows[-1][0]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        if mode != "delete":
            raise SnapshotError("the snapshot file is still open elsewhere (journal mode "
                                f"{mode})")


def _replace(tmp_db: Path, target: Path) -> None:
    """Move the checked snapshot over ``target`` atomically. The old ledger's WAL is folded
    into it first and must then be gone: a WAL left beside the new file would be replayed into
    it, and a WAL that stays means a running node holds the file."""
    if target.exists():
        with contextlib.closing(_connect_existing(target)) as local:
            busy = local.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            raise SnapshotError(f"{target} is in use (is the node running?)")
        for suffix in ("-wal", "-shm", "-journal"):
            if Path(f"{target}{suffix}").exists():
                raise SnapshotError(f"{target}{suffix} remains: is the node running?")
        relation, height = _relation(target, tmp_db)
        if relation not in ("none", "behind"):
            raise SnapshotError(f"the local ledger changed meanwhile (height {height}); "
                                "nothing installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _fsync(tmp_db)
        os.replace(tmp_db, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # Another file system: copy beside the target first, so the final step stays a rename.
        beside = target.parent / f".snapshot-install-{secrets.token_hex(8)}.sqlite"
        try:
            shutil.copyfile(tmp_db, beside)
            _fsync(beside)
            os.replace(beside, target)
        finally:
            beside.unlink(missing_ok=True)
        tmp_db.unlink()
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


# -- the whole catch-up --------------------------------------------------------------------


def catch_up(data_dir: Path, genesis: Genesis, own_key: SigningKey, modules: list[Module],
             sources: Sequence[str], *, witnesses: Callable[[str], Sequence[str]] = lambda _: (),
             say: Callable[[str], None] = print, bytes_max: int = SNAPSHOT_BYTES_MAX,
             peers_ca: ssl.SSLContext | None = None) -> InstallReport:
    """Fetch, check and install a snapshot from the first of ``sources`` that gives a usable
    one, saying one line per step. ``witnesses(source)``: the other peers that should confirm
    it. SnapshotError naming the last failure when none could (NotNewer when every source
    that answered holds nothing the local ledger lacks). ``peers_ca`` as in
    ``fetch_snapshot``."""
    if not sources:
        raise SnapshotError("no peer to fetch a snapshot from (give --catch-up-from URL or "
                            "list peers in the config)")
    data_dir.mkdir(parents=True, exist_ok=True)
    failures: list[SnapshotError] = []
    for url in sources:
        dest = data_dir / f".snapshot-fetch-{secrets.token_hex(8)}.sqlite"
        say(f"catch-up: fetching a snapshot from {url}")
        try:
            info = fetch_snapshot(url, own_key, dest, bytes_max=bytes_max,
                                  genesis_hash=genesis.digest(), peers_ca=peers_ca)
            say(f"catch-up: received {info.size_bytes} bytes: height {info.head.height}, "
                f"tree size {info.head.tree_size}, batch_seq {info.head.batch_seq}, tree heads "
                f"signed by {info.node_key[:16]}…")
            say("catch-up: checking it against our ledger, then re-executing every block "
                "from our genesis")
            report = install_snapshot(dest, data_dir, genesis, own_key, info.node_key,
                                      modules, witness_urls=witnesses(url), peers_ca=peers_ca)
        except SnapshotError as exc:
            say(f"catch-up: {url}: {exc}")
            failures.append(exc)
            continue
        except (OSError, sqlite3.Error) as exc:  # our disk, not the peer: still say it
            failure = SnapshotError(f"{exc.__class__.__name__}: {exc}")
            say(f"catch-up: {url}: {failure}")
            failures.append(failure)
            continue
        finally:
            _remove(dest)
        r = report.replayed
        say(f"catch-up: verified: {r.blocks} blocks and {r.txs} txs re-executed with equal "
            f"results, tree heads signed by node {report.peer_node_id}")
        if report.confirmed_by or report.unconfirmed:
            asked = len(report.confirmed_by) + len(report.unconfirmed)
            say(f"catch-up: confirmed by {len(report.confirmed_by)} of {asked} other peers"
                + "".join(f"; {line}" for line in report.confirmed_by)
                + "".join(f"; not by {line}" for line in report.unconfirmed))
        was = "no ledger" if report.previous_height is None else (
            f"height {report.previous_height}")
        say(f"catch-up: installed {data_dir / 'ledger.sqlite'} at height "
            f"{report.head.height} (was {was}), tree heads re-signed with this node's key; "
            f"the orderer resumes after batch_seq {report.head.batch_seq}")
        return report
    if all(isinstance(f, NotNewer) for f in failures):
        raise NotNewer(str(failures[-1]))
    raise SnapshotError(f"no peer gave a usable snapshot ({len(sources)} tried); last: "
                        f"{failures[-1]}")


def catch_up_before_start(config: NodeConfig, source: str | None, *,
                          say: Callable[[str], None] = print) -> InstallReport | None:
    """What ``consortia node start`` does before it opens the ledger.

    With etcd ordering, a node whose resume position (meta batch_seq, 0 for a new node) lies
    below the etcd floor cannot catch up from etcd (the batches it lacks were deleted): it
    installs a snapshot from ``source``, or else from the first of ``config.peers`` that gives
    a usable one, the other peers confirming it. With ``source`` given it does so in any case
    (a new node's first start, solo ordering included). None when nothing was installed.
    SnapshotError when the node cannot start with what it has.
    """
    from consortia.crypto.keys import KeyFileError
    from consortia.ledger.genesis import GenesisError, load_genesis
    from consortia.modules import default_modules

    etcd = config.ordering == "etcd"
    if source is None and not etcd:
        return None
    try:
        genesis = load_genesis(config.genesis_path)
        key = SigningKey.load_or_create(config.key_path)
        peers_ca = peers_ssl_context(config)
    except (GenesisError, KeyFileError, OSError, ValueError) as exc:
        raise SnapshotError(str(exc)) from None
    resume = local_batch_seq(config.db_path)
    floor = _etcd_floor(config, genesis.chain_id, say) if etcd else 0
    if source is None:
        if floor is None:
            say("catch-up: the node starts with the ledger it has; its orderer checks the floor "
                "once etcd answers")
            return None
        if resume >= floor:
            say(f"catch-up: this node resumes after batch_seq {resume}, the etcd floor is "
                f"{floor}: it catches up from etcd")
            return None
        say(f"catch-up: this node resumes after batch_seq {resume}, below the etcd floor "
            f"{floor}: the batches it lacks are gone from etcd, so it needs a peer's snapshot")
    sources = [source] if source is not None else list(config.peers)
    try:
        report = catch_up(config.data_dir, genesis, key, default_modules(), sources,
                          witnesses=lambda url: [p for p in config.peers if p != url], say=say,
                          peers_ca=peers_ca)
    except NotNewer as exc:
        if floor is not None and resume < floor:
            raise SnapshotError(f"no peer is ahead of this node's ledger ({exc}), and it is "
                                f"below the etcd floor {floor}") from None
        return None  # catch_up said why
    if etcd:
        floor = _etcd_floor(config, genesis.chain_id, say)
        if floor is not None and report.head.batch_seq < floor:
            raise SnapshotError(f"after the snapshot this node resumes after batch_seq "
                                f"{report.head.batch_seq}, still below the etcd floor {floor}; "
                                "start it again to fetch a newer snapshot")
    return report


def _etcd_floor(config: NodeConfig, chain_id: str, say: Callable[[str], None]) -> int | None:
    """etcd's floor, or None (said why) when no member answers: a node can still start and
    serve what it has; its orderer refuses to deliver from below the floor once it can read
    it."""
    from consortia.node.etcd_orderer import read_floor_sync

    try:
        return read_floor_sync(config, chain_id)
    except Exception as exc:  # any client failure: it cannot tell, which is not fatal here
        say(f"catch-up: cannot read the etcd floor from {', '.join(config.etcd_endpoints)}: "
            f"{exc.__class__.__name__}: {str(exc)[:200]}")
        return None
