"""A frozen wallet never sends; it receives only while governance lets frozen wallets receive."""

from __future__ import annotations

from typing import Any

import pytest

from consortia.modules.currency.types import FREEZE_REASONS
from tests.modules.currency.support import Ledger


def pay(from_wallet: str, to_wallet: str, amount: str) -> dict[str, Any]:
    return {"from_wallet": from_wallet, "to_wallet": to_wallet, "amount": amount}


def freeze(ledger: Ledger, wallet_id: str, by: str = "bank1", reason: str = "court_order",
           ) -> None:
    ledger.ok(by, "currency.freeze", {"wallet_id": wallet_id, "reason": reason})


@pytest.mark.parametrize("by", ["bank1", "reg"])
def test_a_frozen_wallet_cannot_transfer_or_collect(ledger: Ledger, by: str) -> None:
    freeze(ledger, "alice-cny", by)
    wallet = ledger.wallet("alice-cny")
    assert (wallet.status, wallet.freeze_reason) == ("frozen", "court_order")
    assert ledger.refused("alice", "currency.transfer",
                          pay("alice-cny", "bob-cny", "1.00")) == "wallet_frozen"
    assert ledger.refused("alice", "currency.collect",
                          {"wallet_id": "alice-cny", "amount": "1.00"}) == "wallet_frozen"


def test_a_frozen_wallet_receives_nothing_by_default(ledger: Ledger) -> None:
    freeze(ledger, "alice-cny")
    assert ledger.refused("bob", "currency.transfer",
                          pay("bob-cny", "alice-cny", "1.00")) == "wallet_frozen"
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "alice-cny", "amount": "1.00"}) == "wallet_frozen"


def test_frozen_wallets_receive_when_governance_says_so_and_still_never_send(
        ledger: Ledger) -> None:
    freeze(ledger, "alice-cny")
    ledger.set_param("frozen_wallets_receive", True)
    ledger.ok("bob", "currency.transfer", pay("bob-cny", "alice-cny", "1.00"))
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "alice-cny", "amount": "2.00"})
    assert ledger.balance("alice-cny") == 5_300
    # Limits still hold for a frozen wallet that may receive.
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "alice-cny", "amount": "47.01"}) == "balance_limit"
    assert ledger.refused("alice", "currency.transfer",
                          pay("alice-cny", "bob-cny", "1.00")) == "wallet_frozen"
    assert ledger.refused("alice", "currency.collect",
                          {"wallet_id": "alice-cny", "amount": "1.00"}) == "wallet_frozen"
    # And back: governance turns receiving off again.
    ledger.set_param("frozen_wallets_receive", False)
    assert ledger.refused("bob", "currency.transfer",
                          pay("bob-cny", "alice-cny", "1.00")) == "wallet_frozen"


def test_unfreeze_restores_sending_and_receiving(ledger: Ledger) -> None:
    freeze(ledger, "alice-cny", "bank1", "sanctions")
    ledger.ok("bank1", "currency.unfreeze", {"wallet_id": "alice-cny", "reason": "other"})
    wallet = ledger.wallet("alice-cny")
    assert (wallet.status, wallet.freeze_reason) == ("active", "")
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "1.00"))
    ledger.ok("bob", "currency.transfer", pay("bob-cny", "alice-cny", "2.00"))
    ledger.ok("alice", "currency.collect", {"wallet_id": "alice-cny", "amount": "1.00"})
    assert ledger.balance("alice-cny") == 5_000


def test_freezing_keeps_the_balance_and_the_operator_can_still_change_the_tier(
        ledger: Ledger) -> None:
    before = ledger.balance("bob-cny")
    freeze(ledger, "bob-cny", reason="suspected_fraud")
    assert ledger.balance("bob-cny") == before
    ledger.ok("bank1", "currency.set_wallet_tier", {"wallet_id": "bob-cny", "tier": "full"})


@pytest.mark.parametrize("reason", FREEZE_REASONS)
def test_every_listed_reason_freezes_and_unfreezes(ledger: Ledger, reason: str) -> None:
    freeze(ledger, "carol-cny", "bank2", reason)
    assert ledger.wallet("carol-cny").freeze_reason == reason
    ledger.ok("bank2", "currency.unfreeze", {"wallet_id": "carol-cny", "reason": reason})


@pytest.mark.parametrize("reason", ["", "court-order", "Court_order", "x" * 200, "court_order "])
def test_unlisted_reasons_are_refused(ledger: Ledger, reason: str) -> None:
    assert ledger.refused("bank1", "currency.freeze",
                          {"wallet_id": "alice-cny", "reason": reason}) == "bad_reason"


def test_a_payment_refused_by_a_frozen_receiver_uses_none_of_the_daily_limit(
        ledger: Ledger) -> None:
    # A frozen receiver refuses the payment: the sender's daily spending is not used up.
    freeze(ledger, "bob-cny")
    assert ledger.refused("alice", "currency.transfer",
                          pay("alice-cny", "bob-cny", "20.00")) == "wallet_frozen"
    assert ledger.wallet("alice-cny").spent_today_minor == 0



def test_operator_cannot_lift_a_freeze_the_regulator_imposed(ledger: Ledger) -> None:
    freeze(ledger, "alice-cny", "reg")
    assert ledger.wallet("alice-cny").frozen_by == "regulator"
    assert ledger.refused("bank1", "currency.unfreeze",
                          {"wallet_id": "alice-cny", "reason": "court_order"}) == "not_allowed"
    ledger.ok("reg", "currency.unfreeze", {"wallet_id": "alice-cny", "reason": "court_order"})
    assert ledger.wallet("alice-cny").status == "active"


def test_regulator_may_lift_an_operator_freeze(ledger: Ledger) -> None:
    freeze(ledger, "alice-cny", "bank1")
    assert ledger.wallet("alice-cny").frozen_by == "operator"
    ledger.ok("reg", "currency.unfreeze", {"wallet_id": "alice-cny", "reason": "other"})
