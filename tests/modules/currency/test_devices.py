"""Wallet devices: a certified wallet app instance (or a merchant's terminal) bound to a
wallet spends from it with its device credential, and stops the block its product's
certificate is revoked; the owner key keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest

from consortia.modules.currency import queries
from consortia.modules.currency.types import DEVICES_PER_WALLET_MAX
from tests.modules.currency.device_support import EVIDENCE, DeviceLedger
from tests.modules.currency.support import KEYS, public, set_up_economy, signing_key


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
