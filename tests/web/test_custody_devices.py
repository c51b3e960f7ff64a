"""The app instance's device key in custody: its own sealed key, one per login, never the
user's key, and not openable as another login's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from consortia.crypto.keys import SigningKey
from consortia.custody import Custody, CustodyError
from consortia.custody.store import PERSON
from consortia.custody.vault import VaultError


@pytest.fixture
def custody(tmp_path: Path) -> Custody:
    return Custody.open(tmp_path)


def add(custody: Custody, name: str) -> SigningKey:
    key = SigningKey.generate()
    custody.add_user(name, "correct horse", display_name=name.title(), kind=PERSON,
                     institution="harbor", key=key, wallet_id=name)
    return key


def test_a_login_gets_one_sealed_device_key_apart_from_its_own(custody: Custody,
                                                               tmp_path: Path) -> None:
    own = add(custody, "alice")
    assert custody.device_public_key("alice") is None
    public = custody.create_device_key("alice")
    assert custody.device_public_key("alice") == public != own.public_key_hex
    device = custody.device_signing_key("alice")
    assert device.public_key_hex == public
    assert custody.signing_key("alice").public_key_hex == own.public_key_hex
    assert device.seed() not in (tmp_path / "custody.sqlite").read_bytes()
    with pytest.raises(CustodyError, match="has a device key already"):
        custody.create_device_key("alice")
    assert custody.device_public_key("alice") == public


def test_device_keys_need_a_user_and_do_not_open_under_another_name(
        custody: Custody, tmp_path: Path) -> None:
    with pytest.raises(CustodyError, match="no user"):
        custody.create_device_key("nobody")
    with pytest.raises(CustodyError, match="no device key"):
        custody.device_signing_key("nobody")
    add(custody, "alice")
    add(custody, "bob")
    custody.create_device_key("alice")
    custody.create_device_key("bob")
    with sqlite3.connect(tmp_path / "custody.sqlite") as db:
        (alice_sealed,) = db.execute(
            "SELECT key_ciphertext FROM app_devices WHERE username = 'alice'").fetchone()
        (user_sealed,) = db.execute(
            "SELECT key_ciphertext FROM users WHERE username = 'bob'").fetchone()
        db.execute("UPDATE app_devices SET key_ciphertext = ? WHERE username = 'bob'",
                   (alice_sealed,))
    with pytest.raises(VaultError):
        custody.device_signing_key("bob")
    with sqlite3.connect(tmp_path / "custody.sqlite") as db:
        db.execute("UPDATE app_devices SET key_ciphertext = ? WHERE username = 'bob'",
                   (user_sealed,))
    with pytest.raises(VaultError):  # a user's sealed key never opens as a device key
        custody.device_signing_key("bob")
