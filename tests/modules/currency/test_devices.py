"""Wallet devices: a certified wallet app instance (or a merchant's terminal) bound to a
wallet spends from it with its device credential, and stops the block its product's
certificate is revoked; the owner key keeps working."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.ledger.result import TxResult
from consortia.ledger.tx import DeviceCredential
from consortia.modules.certification.logic import CATALOGUE_2019, sign_credential
from consortia.modules.currency import queries
from consortia.modules.currency.types import DEVICES_PER_WALLET_MAX
from consortia.sdk.client import build_tx
from tests.ledger.helpers import CHAIN_ID, GENESIS_MS, open_chain
from tests.modules.currency.support import (
    KEYS,
    MEMBERS,
    NODE_KEY,
    Ledger,
    public,
    set_up_economy,
    signing_key,
)

for _name in ("cfc", "lab", "vendor", "phone", "phone2", "terminal"):
    KEYS.setdefault(_name, signing_key(_name))

EVIDENCE = hashlib.sha256(b"evidence").hexdigest()
CS_ITEMS = next(items for code, *_, items in CATALOGUE_2019 if code == "CLIENT_SW")


class DeviceLedger(Ledger):
    """The currency test economy plus a certification body, a lab and a wallet-app vendor."""

    def __init__(self, path: Path) -> None:
        self.genesis = Genesis(
            chain_id=CHAIN_ID, time_ms=GENESIS_MS,
            members=[GenesisMember(i, i.upper(), role, public(i))
                     for i, role in (*MEMBERS, ("cfc", "certification_body"))],
            nodes=[GenesisNode("node1", "bank1", NODE_KEY.public_key_hex)])
        self.chain = open_chain(path, self.genesis, NODE_KEY)
        self.now_ms = GENESIS_MS + 1_000
        self.batches = 0
        self.nonce = 0

    def device_run(self, device: str, kind: str, payload: dict[str, Any],
                   credential: DeviceCredential | None) -> TxResult:
        self.nonce += 1
        stx = build_tx(KEYS[device], CHAIN_ID, kind, payload, now_ms=self.now_ms,
                       nonce=self.nonce, device=credential)
        return self.run_txs([stx])[0]

    def certify_wallet_app(self) -> str:
        """A CLIENT_SW product of ``vendor`` taken from application to certificate."""
        self.invoke("certification.accredit_lab", {"id": "lab", "name": "Lab",
                                                   "key": public("lab")})
        self.ok("vendor", "certification.register_vendor",
                {"id": "vendor", "legal_name": "Wallet Apps Ltd.", "address": "1 Road"})
        app = self.ok("vendor", "certification.apply", {
            "body": "cfc", "product_type": "CLIENT_SW", "product_name": "Pay App",
            "model": "PA-1", "version": "1.0.0", "manufacturer": "Wallet Apps Ltd.",
            "factory": "-", "scope": "wallet app", "standards": ["JR/T 0092"],
            "evidence": EVIDENCE}).data["certificate"]
        step = {"certificate": app, "reason": "ok", "evidence": EVIDENCE}
        self.ok("cfc", "certification.accept", step)
        self.ok("cfc", "certification.assign_lab", {**step, "lab": "lab"})
        self.ok("lab", "certification.test_report", {
            "certificate": app, "evidence": EVIDENCE,
            "results": [{"item": i.id, "passed": True} for i in CS_ITEMS]})
        self.ok("cfc", "certification.onsite_check", {**step, "passed": True})
        number: str = self.ok("cfc", "certification.decide",
                              {**step, "issue": True}).data["number"]
        return number

    def enrol(self, device: str, number: str, wallet_id: str = "bob-cny",
              owner: str = "bob") -> DeviceCredential:
        """The vendor registers the device, the owner binds it to the wallet."""
        credential = sign_credential(KEYS["vendor"], public(device), number, "PA-1", "1.0.0")
        self.ok("vendor", "certification.register_device", {
            "device_key": public(device), "certificate": number, "model": "PA-1",
            "version": "1.0.0", "signature": credential.signature})
        self.ok(owner, "currency.bind_device",
                {"wallet_id": wallet_id, "device_key": public(device), "label": device})
        return credential


def pay(amount: str = "10.00") -> dict[str, str]:
    return {"from_wallet": "bob-cny", "to_wallet": "shop-cny", "amount": amount}


@pytest.fixture
def ledger(tmp_path: Path) -> DeviceLedger:
    ledger = DeviceLedger(tmp_path / "chain.db")
    set_up_economy(ledger)
    return ledger


@pytest.fixture
def number(ledger: DeviceLedger) -> str:
    return ledger.certify_wallet_app()


def test_a_bound_certified_device_pays_until_its_product_is_revoked(
        ledger: DeviceLedger, number: str) -> None:
    credential = ledger.enrol("phone", number)
    result = ledger.device_run("phone", "currency.transfer", pay(), credential)
    assert result.accepted, result
    assert ledger.balance("shop-cny") == 1_000
    ledger.ok("cfc", "certification.revoke",
              {"certificate": number, "reason": "serious_defect", "evidence": EVIDENCE})
    before = dict(ledger.chain.state.items)
    refused = ledger.device_run("phone", "currency.transfer", pay(), credential)
    assert (refused.code, refused.message) == (
        "device_not_admitted", f"product certificate {number} is revoked")
    assert ledger.chain.state.items == before
    # The owner's own key is not a device: it still spends.
    ledger.ok("bob", "currency.transfer", pay())
    assert ledger.balance("shop-cny") == 2_000


def test_a_suspension_stops_the_device_and_reinstatement_lets_it_back(
        ledger: DeviceLedger, number: str) -> None:
    credential = ledger.enrol("phone", number)
    ledger.ok("cfc", "certification.suspend", {
        "certificate": number, "reason": "inspection_failed", "evidence": EVIDENCE,
        "correction_deadline_ms": ledger.now_ms + 86_400_000})
    assert ledger.device_run("phone", "currency.transfer", pay(), credential).code == (
        "device_not_admitted")
    ledger.ok("cfc", "certification.reinstate",
              {"certificate": number, "reason": "corrected", "evidence": EVIDENCE})
    assert ledger.device_run("phone", "currency.transfer", pay(), credential).accepted


def test_a_bound_device_without_its_credential_is_refused(
        ledger: DeviceLedger, number: str) -> None:
    ledger.enrol("phone", number)
    before = dict(ledger.chain.state.items)
    result = ledger.device_run("phone", "currency.transfer", pay(), None)
    assert result.code == "device_credential_required"
    assert ledger.chain.state.items == before


def test_a_certified_device_not_bound_to_the_wallet_cannot_spend(
        ledger: DeviceLedger, number: str) -> None:
    credential = ledger.enrol("phone", number, wallet_id="alice-cny", owner="alice")
    result = ledger.device_run("phone", "currency.transfer", pay(), credential)
    assert result.code == "not_owner"


def test_device_limits_still_apply(ledger: DeviceLedger, number: str) -> None:
    credential = ledger.enrol("phone", number)
    result = ledger.device_run("phone", "currency.transfer", pay("600.00"), credential)
    assert result.code == "payment_limit"


@pytest.mark.parametrize(("signer", "payload", "code"), [
    ("alice", {"wallet_id": "bob-cny", "device_key": "phone"}, "not_owner"),
    ("bank1", {"wallet_id": "bob-cny", "device_key": "phone"}, "not_owner"),
    ("bob", {"wallet_id": "bob-cny", "device_key": "bob"}, "bad_device"),
    ("bob", {"wallet_id": "bob-cny", "device_key": "xyz"}, "bad_device"),
    ("bob", {"wallet_id": "bob-cny", "device_key": "phone", "label": "x" * 101}, "bad_label"),
    ("bob", {"wallet_id": "nobody", "device_key": "phone"}, "unknown_wallet"),
])
def test_binding_refusals(ledger: DeviceLedger, signer: str, payload: dict[str, str],
                          code: str) -> None:
    if payload["device_key"] in KEYS:
        payload = {**payload, "device_key": public(payload["device_key"])}
    assert ledger.refused(signer, "currency.bind_device", payload) == code


def test_a_device_binds_to_one_wallet_and_a_wallet_holds_a_bounded_number(
        ledger: DeviceLedger) -> None:
    ledger.ok("bob", "currency.bind_device",
              {"wallet_id": "bob-cny", "device_key": public("phone")})
    assert ledger.refused("alice", "currency.bind_device",
                          {"wallet_id": "alice-cny", "device_key": public("phone")},
                          ) == "device_bound"
    for n in range(1, DEVICES_PER_WALLET_MAX):
        ledger.ok("bob", "currency.bind_device",
                  {"wallet_id": "bob-cny", "device_key": signing_key(f"d{n}").public_key_hex})
    assert ledger.refused("bob", "currency.bind_device",
                          {"wallet_id": "bob-cny", "device_key": public("phone2")},
                          ) == "too_many_devices"
    assert len(queries.devices_of(ledger.chain.state, "bob-cny")) == DEVICES_PER_WALLET_MAX


def test_the_operator_unbinds_a_lost_phone_and_it_can_no_longer_spend(
        ledger: DeviceLedger, number: str) -> None:
    credential = ledger.enrol("phone", number)
    assert ledger.refused("bank2", "currency.unbind_device",
                          {"wallet_id": "bob-cny", "device_key": public("phone")},
                          ) == "not_allowed"
    ledger.ok("bank1", "currency.unbind_device",
              {"wallet_id": "bob-cny", "device_key": public("phone")})
    assert queries.devices_of(ledger.chain.state, "bob-cny") == []
    assert ledger.device_run("phone", "currency.transfer", pay(), credential).code == (
        "not_owner")
    assert ledger.refused("bob", "currency.unbind_device",
                          {"wallet_id": "bob-cny", "device_key": public("phone")},
                          ) == "unknown_device"
