"""The custody store on a real SQLite file: keys sealed, passwords hashed, sessions bounded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from consortia.crypto.keys import KeyFileError, SigningKey
from consortia.custody import Custody, CustodyConfig, CustodyError, create_demo_logins
from consortia.custody.demo import DEMO_DESKS
from consortia.custody.store import LAB, PERSON, STAFF, VENDOR
from consortia.custody.vault import VaultError

T0 = 1_700_000_000_000


@pytest.fixture
def custody(tmp_path: Path) -> Custody:
    return Custody.open(tmp_path, CustodyConfig(session_idle_ttl_s=60, session_ttl_s=600,
                                                sessions_per_user_max=3))


def add_alice(custody: Custody, key: SigningKey | None = None) -> SigningKey:
    key = key or SigningKey.generate()
    custody.add_user("alice", "correct horse", display_name="Alice", kind=PERSON,
                     institution="harbor", key=key, wallet_id="alice", created_ms=T0)
    return key


def test_the_master_key_file_is_made_with_mode_600(custody: Custody, tmp_path: Path) -> None:
    path = tmp_path / "custody.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="must be 600"):
        Custody.open(tmp_path)


def test_passwords_are_argon2id_hashes_and_keys_are_sealed(custody: Custody,
                                                            tmp_path: Path) -> None:
    key = add_alice(custody)
    stored = custody.password_hash("alice")
    assert stored is not None and stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    sealed = custody.key_ciphertext("alice")
    assert sealed is not None and key.seed() not in sealed and len(sealed) > 32
    assert custody.signing_key("alice").public_key_hex == key.public_key_hex
    # Nothing secret in the database file in the clear.
    raw = (tmp_path / "custody.sqlite").read_bytes()
    assert key.seed() not in raw and b"correct horse" not in raw


def test_a_sealed_key_moved_to_another_users_row_does_not_open(custody: Custody,
                                                                tmp_path: Path) -> None:
    add_alice(custody)
    custody.add_user("bob-desk", "another password", display_name="Bob", kind=STAFF,
                     institution="harbor", key=SigningKey.generate())
    with sqlite3.connect(tmp_path / "custody.sqlite") as db:
        db.execute("UPDATE users SET key_ciphertext = (SELECT key_ciphertext FROM users "
                   "WHERE username = 'alice') WHERE username = 'bob-desk'")
    with pytest.raises(VaultError, match="not theirs"):
        custody.signing_key("bob-desk")


def test_another_master_key_cannot_open_the_keys(custody: Custody, tmp_path: Path) -> None:
    add_alice(custody)
    custody.close()
    (tmp_path / "custody.key").unlink()
    with pytest.raises(VaultError):
        Custody.open(tmp_path).signing_key("alice")


def test_a_wrong_password_or_unknown_user_gets_no_session(custody: Custody) -> None:
    add_alice(custody)
    assert custody.login("alice", "wrong horse", T0) is None
    assert custody.login("nobody", "correct horse", T0) is None
    assert custody.login("alice", "x" * 10_000, T0) is None
    assert custody.session_count("alice") == 0
    logged_in = custody.login("alice", "correct horse", T0)
    assert logged_in is not None
    token, session = logged_in
    assert session.user.username == "alice" and session.user.wallet_id == "alice"
    assert len(token) == 43 and token not in session.csrf_token


def test_sessions_expire_when_idle_and_absolutely(custody: Custody) -> None:
    add_alice(custody)
    logged_in = custody.login("alice", "correct horse", T0)
    assert logged_in is not None
    token, _ = logged_in
    # Used every 50 s, it stays alive until its absolute end (600 s).
    for t in range(50_000, 600_000, 50_000):
        assert custody.session(token, T0 + t) is not None, t
    assert custody.session(token, T0 + 600_000) is None
    other = custody.login("alice", "correct horse", T0)
    assert other is not None
    assert custody.session(other[0], T0 + 59_999) is not None
    assert custody.session(other[0], T0 + 59_999 + 60_000) is None
    # Expired is gone for good, even if the clock went back.
    assert custody.session(other[0], T0) is None


def test_unknown_malformed_and_logged_out_tokens_fail(custody: Custody) -> None:
    add_alice(custody)
    logged_in = custody.login("alice", "correct horse", T0)
    assert logged_in is not None
    token, _ = logged_in
    assert custody.session("A" * 43, T0) is None
    assert custody.session("not a token", T0) is None
    assert custody.session(token + "x", T0) is None
    custody.logout(token)
    assert custody.session(token, T0) is None


def test_each_user_keeps_a_bounded_number_of_sessions(custody: Custody) -> None:
    add_alice(custody)
    tokens = []
    for i in range(5):
        logged_in = custody.login("alice", "correct horse", T0 + i)
        assert logged_in is not None
        tokens.append(logged_in[0])
    assert custody.session_count("alice") == 3
    assert [custody.session(t, T0 + 10) is not None for t in tokens] == [
        False, False, True, True, True]


def test_bad_users_are_refused(custody: Custody) -> None:
    key = SigningKey.generate()
    for username, password, kind, wallet_id, words in [
            ("A", "long enough", PERSON, "a", "username"),
            ("carol", "short", PERSON, "carol", "password"),
            ("carol", "long enough", "robot", None, "a person, staff, a vendor or a lab"),
            ("carol", "long enough", PERSON, None, "wallet id")]:
        with pytest.raises(CustodyError, match=words):
            custody.add_user(username, password, display_name="Carol", kind=kind,
                             institution="harbor", key=key, wallet_id=wallet_id)
    for kind in (VENDOR, LAB):
        with pytest.raises(CustodyError, match=f"names its {kind} id"):
            custody.add_user("carol", "long enough", display_name="Carol", kind=kind,
                             institution="", key=key)
    add_alice(custody)
    with pytest.raises(CustodyError, match="taken"):
        add_alice(custody)


def test_changing_a_password_ends_the_sessions(custody: Custody) -> None:
    add_alice(custody)
    logged_in = custody.login("alice", "correct horse", T0)
    assert logged_in is not None
    custody.set_password("alice", "battery staple")
    assert custody.session(logged_in[0], T0) is None
    assert custody.login("alice", "correct horse", T0) is None
    assert custody.login("alice", "battery staple", T0) is not None


def test_demo_logins_come_from_the_key_files_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    for wallet_id in ("alice", "harbor-books"):
        SigningKey.generate().save(data_dir / "keys" / "wallets" / f"{wallet_id}.key")
    for member in ("harbor", "fro"):
        SigningKey.generate().save(data_dir / "keys" / f"{member}.key")
    custody = Custody.open(data_dir)
    added = create_demo_logins(custody, data_dir)
    assert sorted(u.username for u in added) == ["alice", "fro-desk", "harbor-books",
                                                  "harbor-desk"]
    assert create_demo_logins(custody, data_dir) == []
    assert custody.login("harbor-books", "harbor-books-demo") is not None
    desk = custody.user("fro-desk")
    assert desk is not None and desk.kind == STAFF and desk.institution == "fro"
    assert custody.signing_key("harbor-desk").public_key_hex == SigningKey.load(
        data_dir / "keys" / "harbor.key").public_key_hex
    assert {d.username for d in DEMO_DESKS} >= {"harbor-desk", "meridian-desk", "arcadia-desk",
                                                 "lantau-desk", "fro-desk"}
