"""Who sees what: a wallet is for its owner, its operator bank and the regulator; the issuing
central bank sees its currency's issuance and reserves, not people's wallets."""

from __future__ import annotations

from typing import Any

import pytest

from consortia.ledger.tx import Tx
from consortia.modules.currency.logic import may_view
from consortia.modules.currency.queries import may_read_reserve, may_read_wallet
from tests.modules.currency.support import Ledger, public


def tx_of(ledger: Ledger, signer: str, kind: str, payload: dict[str, Any]) -> Tx:
    return ledger.tx(signer, kind, payload).tx


TRANSFER = ("alice", "currency.transfer",  # bank1's wallet pays bank2's wallet
            {"from_wallet": "alice-cny", "to_wallet": "carol-cny", "amount": "1.00"})


@pytest.mark.parametrize(("viewer", "allowed"), [
    ("alice", True),  # the sender (and signer)
    ("carol", True),  # the receiver's owner: it is on her statement
    ("bank1", True),  # the sender's operator
    ("bank2", True),  # the receiver's operator
    ("reg", True),
    ("bob", False),  # another person, even one with a wallet at the same bank
    ("stranger", False),
    ("cb1", False),  # CNY's issuer sees no person-to-person payments
    ("cb2", False),
    ("net", False),
])
def test_who_may_view_a_transfer(ledger: Ledger, viewer: str, allowed: bool) -> None:
    tx = tx_of(ledger, *TRANSFER)
    assert may_view(ledger.chain.state, tx, public(viewer)) is allowed


@pytest.mark.parametrize("kind", ["currency.issue", "currency.redeem"])
@pytest.mark.parametrize(("viewer", "allowed"), [
    ("cb1", True),  # the issuer
    ("bank1", True),  # the bank whose reserve it moves
    ("reg", True),
    ("cb2", False),  # another central bank
    ("bank2", False),  # another bank
    ("net", False),
    ("alice", False),
    ("stranger", False),
])
def test_who_may_view_issuance_and_redemption(ledger: Ledger, kind: str, viewer: str,
                                              allowed: bool) -> None:
    tx = tx_of(ledger, "cb1", kind, {"currency": "CNY", "bank": "bank1", "amount": "1.00"})
    assert may_view(ledger.chain.state, tx, public(viewer)) is allowed


@pytest.mark.parametrize(("kind", "payload"), [
    ("currency.open_wallet", {"wallet_id": "alice-cny", "currency": "CNY",
                              "owner_key": public("alice"), "tier": "anon"}),
    ("currency.distribute", {"wallet_id": "alice-cny", "amount": "1.00"}),
    ("currency.set_wallet_tier", {"wallet_id": "alice-cny", "tier": "full"}),
    ("currency.freeze", {"wallet_id": "alice-cny", "reason": "court_order"}),
    ("currency.unfreeze", {"wallet_id": "alice-cny", "reason": "court_order"}),
    ("currency.collect", {"wallet_id": "alice-cny", "amount": "1.00"}),
])
@pytest.mark.parametrize(("viewer", "allowed"), [
    ("alice", True), ("bank1", True), ("reg", True),
    ("bank2", False), ("bob", False), ("stranger", False), ("net", False),
    ("cb1", False),  # the issuer does not see wallets
    ("cb2", False),
])
def test_who_may_view_a_wallets_txs(ledger: Ledger, kind: str, payload: dict[str, Any],
                                    viewer: str, allowed: bool) -> None:
    tx = tx_of(ledger, "bank1", kind, payload)
    assert may_view(ledger.chain.state, tx, public(viewer)) is allowed


def test_may_view_survives_payloads_of_any_shape(ledger: Ledger) -> None:
    for payload in ({}, {"wallet_id": 7}, {"from_wallet": ["alice-cny"]}, {"currency": None},
                    {"bank": {"x": 1}}, {"wallet_id": "../../governance/member/cb1"}):
        tx = tx_of(ledger, "bank1", "currency.distribute", payload)
        assert may_view(ledger.chain.state, tx, public("bank2")) is False
        assert may_view(ledger.chain.state, tx, public("stranger")) is False


@pytest.mark.parametrize(("viewer", "allowed", "why"), [
    ("alice", True, "owner"),
    ("bank1", True, "operator"),
    ("reg", True, "regulator"),
    ("bank2", False, ""),
    ("bob", False, ""),
    ("stranger", False, ""),
    ("cb1", False, ""),  # the issuer does not see wallets
    ("net", False, ""),
])
def test_who_may_read_a_wallet(ledger: Ledger, viewer: str, allowed: bool, why: str) -> None:
    right = may_read_wallet(ledger.chain.state, ledger.wallet("alice-cny"), public(viewer))
    assert right.allowed is allowed
    if allowed:
        assert right.why == why
    else:
        assert right.why


def test_an_anonymous_reader_sees_no_wallet_and_no_reserve(ledger: Ledger) -> None:
    right = may_read_wallet(ledger.chain.state, ledger.wallet("alice-cny"), None)
    assert not right.allowed
    assert not may_read_reserve(ledger.chain.state, "CNY", "bank1", None)


def test_a_removed_operator_bank_no_longer_reads_its_wallets(ledger: Ledger) -> None:
    ledger.adopt({"type": "remove_member", "id": "bank1"})
    assert not may_read_wallet(ledger.chain.state, ledger.wallet("alice-cny"),
                               public("bank1")).allowed
    tx = tx_of(ledger, *TRANSFER)
    assert may_view(ledger.chain.state, tx, public("bank1")) is False


@pytest.mark.parametrize(("viewer", "allowed"), [
    ("bank1", True),  # its own reserve
    ("cb1", True),  # CNY's issuer
    ("reg", True),
    ("bank2", False),
    ("cb2", False),  # JPY's issuer
    ("net", False),
    ("alice", False),
    ("stranger", False),
])
def test_who_may_read_a_reserve(ledger: Ledger, viewer: str, allowed: bool) -> None:
    assert may_read_reserve(ledger.chain.state, "CNY", "bank1", public(viewer)) is allowed


def test_the_jpy_issuer_reads_jpy_reserves_only(ledger: Ledger) -> None:
    assert may_read_reserve(ledger.chain.state, "JPY", "bank2", public("cb2"))
    assert not may_read_reserve(ledger.chain.state, "CNY", "bank2", public("cb2"))
    assert not may_read_reserve(ledger.chain.state, "XXX", "bank2", public("cb2"))
