"""SQLite storage of one node: blocks, transactions, Merkle leaves and state, in one file.

A block and everything it changed are written in one SQLite transaction (WAL, synchronous=FULL),
so after a crash a block is either fully stored or not at all, and an acknowledged block
survives ``kill -9``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    time_ms INTEGER NOT NULL,
    batch_seq INTEGER NOT NULL,
    tree_size INTEGER NOT NULL,
    root_hash BLOB NOT NULL,
    sth_signature BLOB NOT NULL,
    tx_count INTEGER NOT NULL,
    dropped INTEGER NOT NULL
);
-- Keyed by leaf index so rows append in order; tx ids are random, so they get a narrow index.
CREATE TABLE IF NOT EXISTS txs (
    leaf_index INTEGER PRIMARY KEY,
    tx_id BLOB NOT NULL UNIQUE,
    height INTEGER NOT NULL,
    kind TEXT NOT NULL,
    signer TEXT NOT NULL,
    status TEXT NOT NULL,
    valid_until_ms INTEGER NOT NULL,
    leaf_hash BLOB NOT NULL,
    raw BLOB NOT NULL,
    result BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_valid_until ON txs (valid_until_ms);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
"""


# Page cache per connection: keeps the hot B-tree pages of state and indexes in memory.
CACHE_KIB = 65_536
CHECKPOINT_INTERVAL_S = 0.5


class BlockRow(NamedTuple):
    height: int
    hash: bytes
    prev_hash: bytes
    time_ms: int
    batch_seq: int
    tree_size: int
    root_hash: bytes
    sth_signature: bytes
    tx_count: int
    dropped: int


class TxRow(NamedTuple):
    leaf_index: int
    tx_id: bytes
    height: int
    kind: str
    signer: str
    status: str
    valid_until_ms: int
    leaf_hash: bytes
    raw: bytes
    result: bytes


_BLOCK_COLUMNS = ", ".join(BlockRow._fields)
_TX_COLUMNS = ", ".join(TxRow._fields)


class Store:
    """One writer connection (the executor's thread) and a reader connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect()
        self._writer.executescript(SCHEMA)
        # Checkpoints copy the WAL back into the database file; done by the committing thread
        # they stall the executor, so a background thread does them instead.
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self._local = threading.local()
        # Every per-thread reader, so that close() closes them all and releases the file.
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closing = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, daemon=True,
                                              name="wal-checkpoint")
        self._checkpointer.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is synced at every commit, so a block we acknowledged is on disk.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _checkpoint_loop(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error:
            return  # the writer will report what is wrong with the file
        try:
            while not self._closing.wait(CHECKPOINT_INTERVAL_S):
                # PASSIVE never blocks the writer; it copies what readers no longer need.
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # closing, or the disk went away: the writer will report it
        finally:
            conn.close()

    def close(self) -> None:
        self._closing.set()
        self._checkpointer.join(timeout=5)
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        self._writer.close()

    # -- writing ---------------------------------------------------------------------------

    def commit_block(self, block: BlockRow, txs: Iterable[TxRow],
                     writes: Mapping[str, bytes | None], meta: Mapping[str, bytes]) -> None:
        """Store a block, its txs and its state writes atomically."""
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                f"INSERT INTO blocks ({_BLOCK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", block
            )
            conn.executemany(f"INSERT INTO txs ({_TX_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", txs)
            upserts = [(k, v) for k, v in writes.items() if v is not None]
            deletes = [(k,) for k, v in writes.items() if v is None]
            if upserts:
                conn.executemany(
                    "INSERT INTO state (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    upserts,
                )
            if deletes:
                conn.executemany("DELETE FROM state WHERE key = ?", deletes)
            if meta:
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    list(meta.items()),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- reading ---------------------------------------------------------------------------

    def meta(self, key: str) -> bytes | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def head(self) -> BlockRow | None:
        row = self._reader().execute(
            f"SELECT {_BLOCK_COLUMNS} FROM blocks ORDER BY height DESC LIMIT 1"
        ).fetchone()
        return None if row is None else BlockRow(*row)

    def block(self, height: int) -> BlockRow | None:
        row = self._reader().execute(
            f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        return None if row is None else BlockRow(*row)

    def blocks(self, before: int, limit: int) -> list[BlockRow]:
        rows = self._reader().execute(
            f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE height < ? ORDER BY height DESC LIMIT ?",
            (before, limit),
        ).fetchall()
        return [BlockRow(*r) for r in rows]

    def tx(self, tx_id: bytes) -> TxRow | None:
        row = self._reader().execute(
            f"SELECT {_TX_COLUMNS} FROM txs WHERE tx_id = ?", (tx_id,)
        ).fetchone()
        return None if row is None else TxRow(*row)

    def has_tx(self, tx_id: bytes) -> bool:
        row = self._reader().execute("SELECT 1 FROM txs WHERE tx_id = ?", (tx_id,)).fetchone()
        return row is not None

    def txs_of_block(self, height: int, limit: int, offset: int = 0) -> list[TxRow]:
        rows = self._reader().execute(
            f"SELECT {_TX_COLUMNS} FROM txs WHERE height = ? ORDER BY leaf_index LIMIT ? OFFSET ?",
            (height, limit, offset),
        ).fetchall()
        return [TxRow(*r) for r in rows]

    def recent_txs(self, limit: int, signer: str | None = None) -> list[TxRow]:
        if signer is None:
            sql = f"SELECT {_TX_COLUMNS} FROM txs ORDER BY leaf_index DESC LIMIT ?"
            args: tuple[object, ...] = (limit,)
        else:
            sql = (f"SELECT {_TX_COLUMNS} FROM txs WHERE signer = ? "
                   "ORDER BY leaf_index DESC LIMIT ?")
            args = (signer, limit)
        return [TxRow(*r) for r in self._reader().execute(sql, args).fetchall()]

    def leaf_hashes(self) -> Iterator[bytes]:
        cursor = self._writer.execute("SELECT leaf_hash FROM txs ORDER BY leaf_index")
        for (h,) in cursor:
            yield bytes(h)

    def unexpired_tx_ids(self, time_ms: int) -> Iterator[tuple[bytes, int]]:
        cursor = self._writer.execute(
            "SELECT tx_id, valid_until_ms FROM txs WHERE valid_until_ms >= ?", (time_ms,)
        )
        for tx_id, valid_until_ms in cursor:
            yield bytes(tx_id), int(valid_until_ms)

    def state_items(self) -> Iterator[tuple[str, bytes]]:
        for key, value in self._writer.execute("SELECT key, value FROM state"):
            yield str(key), bytes(value)

    def state_scan(self, prefix: str, limit: int, after: str = "") -> list[tuple[str, bytes]]:
        """Committed state under ``prefix`` in key order, from a reader connection."""
        start = max(prefix, after + "\x00") if after else prefix
        end = prefix + "\U0010ffff"
        rows = self._reader().execute(
            "SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
            (start, end, limit),
        ).fetchall()
        return [(str(k), bytes(v)) for k, v in rows]
