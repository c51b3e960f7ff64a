"""Consortia's content in EMVCo codes: a merchant's static and dynamic codes read back, other
schemes' codes read but not payable, payment tokens round-trip."""

from __future__ import annotations

import pytest

from consortia.crypto.keys import SigningKey
from consortia.modules.payments.codes import (
    cpm_signature_ok,
    make_cpm,
    merchant_payload,
    read_cpm,
    read_merchant_code,
    receive_payload,
)
from consortia.modules.payments.types import Merchant, Order
from consortia.qr import QrError, decode
from tests.qr.samples import EMVCO_MPM

MERCHANT = Merchant("jade-teahouse", "Jade Teahouse", "Lantau", "HK", "5814", "teahouse",
                    "CNY", "lotus", "active", 0)


def test_a_static_code_names_the_merchant_and_asks_for_the_amount() -> None:
    payload = merchant_payload(MERCHANT, "156", 2)
    assert decode(payload, strict=True).initiation == "static"
    scanned = read_merchant_code(payload)
    assert (scanned.merchant_id, scanned.merchant_name, scanned.amount, scanned.order_id) == (
        "jade-teahouse", "Jade Teahouse", None, None)


def test_an_order_code_carries_amount_order_and_expiry() -> None:
    order = Order("jade-teahouse", "T-1001", 1_880, "CNY", "open", 0, 1_700_000_300_000, "k")
    payload = merchant_payload(MERCHANT, "156", 2, order)
    decoded = decode(payload, strict=True)
    assert (decoded.initiation, decoded.amount, decoded.currency) == ("dynamic", "18.80", "156")
    scanned = read_merchant_code(payload)
    assert (scanned.order_id, scanned.expires_ms, scanned.amount) == (
        "T-1001", 1_700_000_300_000, "18.80")


def test_another_schemes_code_is_read_but_names_no_merchant_here() -> None:
    scanned = read_merchant_code(EMVCO_MPM.payload)
    assert (scanned.merchant_id, scanned.merchant_name, scanned.amount) == (
        None, "BEST TRANSPORT", "23.72")


@pytest.mark.parametrize("payload", ["", "hello", "000201010211" + "6304ABCD"])
def test_unreadable_codes_say_why(payload: str) -> None:
    with pytest.raises(QrError):
        read_merchant_code(payload)


def test_a_payment_token_round_trips_and_binds_its_chain() -> None:
    key = SigningKey(b"\x01" * 32)
    token = read_cpm(make_cpm(key, "chain-a", "alice", 1_700_000_060_000, 42))
    assert (token.wallet_id, token.expires_ms, token.counter, token.signer) == (
        "alice", 1_700_000_060_000, 42, key.public_key_hex)
    assert cpm_signature_ok(token, "chain-a")
    assert not cpm_signature_ok(token, "chain-b")


def test_a_persons_receive_code_names_a_wallet_not_a_merchant() -> None:
    payload = receive_payload("alice", "Alice Lin", "Lantau", "HK", "156")
    scanned = read_merchant_code(payload)
    assert (scanned.wallet_id, scanned.merchant_id, scanned.merchant_name, scanned.amount) == (
        "alice", None, "Alice Lin", None)
    assert decode(payload).mcc == "0000"
