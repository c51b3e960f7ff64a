"""A merchant's certified terminal pays from the merchant's wallet over real HTTP, with the
credential the vendor published in the registry, until the body suspends the product."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import wallet_owner_key
from consortia.modules.certification.logic import sign_credential
from tests.api.certification.support import Registry, send_ok, step
from tests.cli.support import assert_fails_with_one_line, consortia


@pytest.fixture(scope="module")
def terminal(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A terminal registered with its credential and bound to the teahouse's wallet; its
    key file."""
    key = SigningKey.generate()
    path = tmp_path_factory.mktemp("terminal") / "terminal.key"
    key.save(path)
    credential = sign_credential(registry.vendor, key.public_key_hex, registry.number,
                                 "SP-100", "1.0.0")
    with registry.node.client() as client:
        send_ok(client, registry.vendor, "register_device", {
            "device_key": key.public_key_hex, "certificate": registry.number,
            "model": "SP-100", "version": "1.0.0", "signature": credential.signature})
        owner = wallet_owner_key(registry.node.data_dir, "teahouse")
        result, _ = client.bind_device(owner, "teahouse", key.public_key_hex, "till 1")
        assert result["status"] == "accepted", result
    return path


def balance(registry: Registry, wallet: str) -> str:
    with registry.node.client() as client:
        client.key = wallet_owner_key(registry.node.data_dir, wallet)
        return str(client.wallet(wallet)["balance"])


def test_the_registry_publishes_the_credential(http: httpx.Client, registry: Registry,
                                               terminal: Path) -> None:
    key = SigningKey.load(terminal)
    shown = http.get(f"/v1/certification/devices/{key.public_key_hex}").json()
    assert shown["admitted"] is True
    assert shown["credential"] == {
        "device_key": key.public_key_hex, "product_id": registry.number, "model": "SP-100",
        "version": "1.0.0", "vendor_key": registry.vendor.public_key_hex,
        "signature": sign_credential(registry.vendor, key.public_key_hex, registry.number,
                                     "SP-100", "1.0.0").signature}
    with registry.node.client() as client:
        client.key = wallet_owner_key(registry.node.data_dir, "teahouse")
        assert [d["label"] for d in client.wallet("teahouse")["devices"]] == ["till 1"]


def test_the_terminal_pays_until_the_product_is_suspended(registry: Registry,
                                                          terminal: Path) -> None:
    url = registry.url
    before = balance(registry, "teahouse")
    done = consortia("currency", "transfer", "teahouse", "alice", "1.50", "--key", terminal,
                     "--device", "--memo", "refund", "--url", url)
    assert done.returncode == 0, done.stderr
    assert balance(registry, "teahouse") != before
    with registry.node.client() as client:
        send_ok(client, registry.body, "suspend",
                step(registry.number, "inspection_failed",
                     correction_deadline_ms=registry.issued_ms + 10 * 86_400_000))
    after_suspension = balance(registry, "teahouse")
    done = consortia("currency", "transfer", "teahouse", "alice", "1.50", "--key", terminal,
                     "--device", "--url", url)
    assert_fails_with_one_line(done, "device_not_admitted",
                               f"product certificate {registry.number} is suspended")
    assert balance(registry, "teahouse") == after_suspension
    with registry.node.client() as client:
        send_ok(client, registry.body, "reinstate", step(registry.number, "corrected"))
    done = consortia("currency", "transfer", "teahouse", "alice", "1.50", "--key", terminal,
                     "--device", "--url", url)
    assert done.returncode == 0, done.stderr


def test_a_device_without_a_published_credential_fails_in_one_line(
        registry: Registry, tmp_path: Path) -> None:
    key = SigningKey.generate()
    with registry.node.client() as client:
        send_ok(client, registry.vendor, "register_device", {
            "device_key": key.public_key_hex, "certificate": registry.number,
            "model": "SP-100", "version": "1.0.0"})
    key.save(tmp_path / "k.key")
    done = consortia("currency", "transfer", "teahouse", "alice", "1.00", "--key",
                     tmp_path / "k.key", "--device", "--url", registry.url)
    assert_fails_with_one_line(done, "no_credential")
