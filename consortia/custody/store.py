"""Users and sessions of the custodial web wallet, in their own SQLite file.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher`` defaults). Session tokens
are 32 random bytes; only their SHA-256 is stored, so a copy of the database opens no session.
A session ends after ``session_idle_ttl_s`` without a request and ``session_ttl_s`` after login,
whichever comes first; each user keeps at most ``sessions_per_user_max`` of them.

Nothing here logs or returns a password, a private key or a session token except the token
handed back by :meth:`Custody.login`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import NamedTuple

import argon2
import argon2.exceptions

from consortia.crypto.keys import SigningKey
from consortia.custody.config import CustodyConfig
from consortia.custody.vault import Vault, load_or_create_master_key

PERSON = "person"
STAFF = "staff"
VENDOR = "vendor"  # a vendor's login: it signs as the vendor (CFP)
LAB = "lab"  # an accredited test lab's login
KINDS = (PERSON, STAFF, VENDOR, LAB)
DB_FILE = "custody.sqlite"
MASTER_KEY_FILE = "custody.key"
USERNAME = re.compile(r"[a-z0-9][a-z0-9_-]{2,39}")
DISPLAY_NAME_CHARS_MAX = 100
# A session token as handed out: 32 random bytes, base64url without padding (43 characters).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
# Idle expiry is written back at most this often, so a busy page does not write on every hit.
_TOUCH_MS_MAX = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username       TEXT PRIMARY KEY,
    display_name   TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('person', 'staff', 'vendor', 'lab')),
    institution    TEXT NOT NULL,
    wallet_id      TEXT,
    public_key     TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    key_ciphertext BLOB NOT NULL,
    created_ms     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash   BLOB PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username, created_ms);
CREATE TABLE IF NOT EXISTS app_devices (
    username       TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    public_key     TEXT NOT NULL UNIQUE,
    key_ciphertext BLOB NOT NULL,
    created_ms     INTEGER NOT NULL
);
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class CustodyError(ValueError):
    """Input the custody store refuses; the message is a sentence for people."""


class User(NamedTuple):
    username: str
    display_name: str
    kind: str  # "person", "staff", "vendor" or "lab"
    # The member id of a staff user's institution, the vendor or lab id of a vendor's or a lab's
    # login, or a person's operator bank as known when the login was made ("" if not
    # recorded): the ledger's records are authoritative.
    institution: str
    wallet_id: str | None  # a person's wallet
    public_key: str  # hex of the key that signs for this user
    created_ms: int


class Session(NamedTuple):
    user: User
    csrf_token: str
    created_ms: int
    expires_ms: int  # the earlier of the idle and the absolute expiry, as of this request


_USER_COLUMNS = "username, display_name, kind, institution, wallet_id, public_key, created_ms"


def _user(row: tuple[object, ...]) -> User:
    username, display_name, kind, institution, wallet_id, public_key, created_ms = row
    return User(str(username), str(display_name), str(kind), str(institution),
                None if wallet_id is None else str(wallet_id), str(public_key),
                int(created_ms))  # type: ignore[call-overload]


def _device_name(username: str) -> str:
    """What a device key is sealed under: a sealed user key never opens as a device key."""
    return f"{username}/device"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Custody:
    """The custody store; safe to share between threads (one connection behind a lock)."""

    def __init__(self, db_path: Path, master_key_path: Path,
                 config: CustodyConfig | None = None) -> None:
        self.config = config or CustodyConfig()
        self.db_path = db_path
        self._vault = Vault(load_or_create_master_key(master_key_path))
        self._hasher = argon2.PasswordHasher()
        # Verified against when the username is unknown, so both cases cost one argon2 check
        # (made on the first login, not here: every node start would pay for it).
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open(cls, data_dir: Path, config: CustodyConfig | None = None) -> Custody:
        """The custody store of a node's data directory."""
        return cls(data_dir / DB_FILE, data_dir / MASTER_KEY_FILE, config)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"Custody({self.db_path})"

    # -- users ---------------------------------------------------------------------------------

    def check_password_rules(self, password: str) -> None:
        cfg = self.config
        if not cfg.password_chars_min <= len(password) <= cfg.password_chars_max:
            raise CustodyError(f"a password has {cfg.password_chars_min} to "
                               f"{cfg.password_chars_max} characters")

    def add_user(self, username: str, password: str, *, display_name: str, kind: str,
                 institution: str, key: SigningKey, wallet_id: str | None = None,
                 created_ms: int | None = None) -> User:
        """Store a new user with their key sealed; CustodyError if anything is off."""
        if not USERNAME.fullmatch(username):
            raise CustodyError("a username is 3 to 40 of a-z 0-9 _ - and starts with a letter "
                               "or digit")
        if not 0 < len(display_name) <= DISPLAY_NAME_CHARS_MAX:
            raise CustodyError(f"a display name has 1 to {DISPLAY_NAME_CHARS_MAX} characters")
        if kind not in KINDS:
            raise CustodyError("a user is a person, staff, a vendor or a lab")
        if kind == PERSON and not wallet_id:
            raise CustodyError("a person's login needs their wallet id")
        if kind == STAFF and not institution:
            raise CustodyError("a staff login belongs to an institution (a member id)")
        if kind in (VENDOR, LAB) and not institution:
            raise CustodyError(f"a {kind} login names its {kind} id as its institution")
        self.check_password_rules(password)
        password_hash = self._hasher.hash(password)  # slow, so outside the lock
        sealed = self._vault.seal(username, key)
        when = now_ms() if created_ms is None else created_ms
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM users").fetchone()
            if count >= self.config.users_max:
                raise CustodyError(f"this custody store holds its maximum of "
                                   f"{self.config.users_max} users")
            try:
                self._db.execute(
                    "INSERT INTO users (username, display_name, kind, institution, wallet_id, "
                    "public_key, password_hash, key_ciphertext, created_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (username, display_name, kind, institution, wallet_id,
                     key.public_key_hex, password_hash, sealed, when))
            except sqlite3.IntegrityError:
                raise CustodyError(f"the username {username!r} is taken") from None
        return User(username, display_name, kind, institution, wallet_id, key.public_key_hex,
                    when)

    def user(self, username: str) -> User | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?",
                                   (username,)).fetchone()
        return None if row is None else _user(row)

    def users(self, limit: int) -> list[User]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users ORDER BY username LIMIT ?",
                (limit,)).fetchall()
        return [_user(r) for r in rows]

    def set_password(self, username: str, password: str) -> None:
        """Change a password and end the user's sessions."""
        self.check_password_rules(password)
        password_hash = self._hasher.hash(password)
        with self._lock:
            changed = self._db.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                                       (password_hash, username)).rowcount
            self._db.execute("DELETE FROM sessions WHERE username = ?", (username,))
        if not changed:
            raise CustodyError(f"no user {username!r}")

    def signing_key(self, username: str) -> SigningKey:
        """The user's private key, opened for one signature; never keep or log it."""
        with self._lock:
            row = self._db.execute("SELECT key_ciphertext, public_key FROM users "
                                   "WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise CustodyError(f"no user {username!r}")
        key = self._vault.open(username, bytes(row[0]))
        assert key.public_key_hex == row[1], "sealed key does not match the stored public key"
        return key

    # -- the wallet app instance as a device ----------------------------------------------------

    def device_public_key(self, username: str) -> str | None:
        """The public key of the user's wallet app instance, if one was created."""
        with self._lock:
            row = self._db.execute("SELECT public_key FROM app_devices WHERE username = ?",
                                   (username,)).fetchone()
        return None if row is None else str(row[0])

    def create_device_key(self, username: str, created_ms: int | None = None) -> str:
        """Give the user's app instance its own device key (sealed like the user's key, under
        another name); its public key. CustodyError if it has one already."""
        if self.user(username) is None:
            raise CustodyError(f"no user {username!r}")
        key = SigningKey.generate()
        sealed = self._vault.seal(_device_name(username), key)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO app_devices (username, public_key, key_ciphertext, "
                    "created_ms) VALUES (?, ?, ?, ?)",
                    (username, key.public_key_hex, sealed,
                     now_ms() if created_ms is None else created_ms))
            except sqlite3.IntegrityError:
                raise CustodyError(f"{username!r} has a device key already") from None
        return key.public_key_hex

    def device_signing_key(self, username: str) -> SigningKey:
        """The app instance's private key, opened for one signature; never keep or log it."""
        with self._lock:
            row = self._db.execute("SELECT key_ciphertext, public_key FROM app_devices "
                                   "WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise CustodyError(f"{username!r} has no device key")
        key = self._vault.open(_device_name(username), bytes(row[0]))
        assert key.public_key_hex == row[1], "sealed key does not match the stored public key"
        return key

    def key_ciphertext(self, username: str) -> bytes | None:
        """The sealed key as stored (for audits and tests)."""
        with self._lock:
            row = self._db.execute("SELECT key_ciphertext FROM users WHERE username = ?",
                                   (username,)).fetchone()
        return None if row is None else bytes(row[0])

    def password_hash(self, username: str) -> str | None:
        """The stored argon2 hash (for audits and tests)."""
        with self._lock:
            row = self._db.execute("SELECT password_hash FROM users WHERE username = ?",
                                   (username,)).fetchone()
        return None if row is None else str(row[0])

    # -- sessions ------------------------------------------------------------------------------

    def login(self, username: str, password: str, now: int | None = None,
              ) -> tuple[str, Session] | None:
        """A new session token and session, or None for a wrong username or password.

        Costs one argon2 verification either way (run it off the event loop).
        """
        when = now_ms() if now is None else now
        with self._lock:
            row = self._db.execute("SELECT password_hash FROM users WHERE username = ?",
                                   (username,)).fetchone()
        if len(password) > self.config.password_chars_max:
            return None
        if row is None and self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        stored = self._dummy_hash if row is None else str(row[0])
        assert stored is not None
        try:
            self._hasher.verify(stored, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(stored):
            rehashed = self._hasher.hash(password)
            with self._lock:
                self._db.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                                 (rehashed, username))
        token = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        with self._lock:
            self._purge_expired(when)
            self._db.execute(
                "INSERT INTO sessions (token_hash, username, csrf_token, created_ms, "
                "last_seen_ms) VALUES (?, ?, ?, ?, ?)",
                (token_digest(token), username, csrf_token, when, when))
            # The newest sessions_per_user_max stay; older ones end.
            self._db.execute(
                "DELETE FROM sessions WHERE username = ? AND token_hash NOT IN ("
                "SELECT token_hash FROM sessions WHERE username = ? "
                "ORDER BY created_ms DESC, rowid DESC LIMIT ?)",
                (username, username, self.config.sessions_per_user_max))
        session = self.session(token, when)
        assert session is not None
        return token, session

    def session(self, token: str, now: int | None = None) -> Session | None:
        """The live session of ``token``, or None (unknown, malformed or expired)."""
        if not _TOKEN.fullmatch(token):
            return None
        when = now_ms() if now is None else now
        idle_ms = self.config.session_idle_ttl_s * 1000
        ttl_ms = self.config.session_ttl_s * 1000
        digest = token_digest(token)
        with self._lock:
            row = self._db.execute(
                "SELECT s.csrf_token, s.created_ms, s.last_seen_ms, "
                + ", ".join(f"u.{c.strip()}" for c in _USER_COLUMNS.split(","))
                + " FROM sessions s JOIN users u ON u.username = s.username "
                "WHERE s.token_hash = ?", (digest,)).fetchone()
            if row is None:
                return None
            csrf_token, created_ms, last_seen_ms = str(row[0]), int(row[1]), int(row[2])
            if when >= min(last_seen_ms + idle_ms, created_ms + ttl_ms):
                self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (digest,))
                return None
            if when - last_seen_ms >= min(_TOUCH_MS_MAX, idle_ms // 4):
                self._db.execute("UPDATE sessions SET last_seen_ms = ? WHERE token_hash = ?",
                                 (when, digest))
                last_seen_ms = when
        return Session(_user(row[3:]), csrf_token, created_ms,
                       min(last_seen_ms + idle_ms, created_ms + ttl_ms))

    def logout(self, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?",
                             (token_digest(token),))

    def session_count(self, username: str) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM sessions WHERE username = ?",
                                        (username,)).fetchone()
        return int(count)

    def _purge_expired(self, when: int) -> None:
        idle_ms = self.config.session_idle_ttl_s * 1000
        ttl_ms = self.config.session_ttl_s * 1000
        self._db.execute("DELETE FROM sessions WHERE last_seen_ms + ? <= ? OR created_ms + ? <= ?",
                         (idle_ms, when, ttl_ms, when))
