"""Who may do what, and everything refused: each refusal has its code and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from consortia.modules.currency.amounts import format_amount
from tests.ledger.helpers import env
from tests.modules.currency.support import (
    CNY_ANON,
    RESERVES,
    Ledger,
    public,
    tier_payload,
)

NEW_WALLET = {"wallet_id": "new-wallet", "currency": "CNY", "owner_key": public("dave"),
              "tier": "anon"}


# -- governance-only actions ---------------------------------------------------------------------

@pytest.mark.parametrize("signer", ["cb1", "cb2", "bank1", "reg", "net", "alice"])
def test_add_currency_by_a_direct_tx_is_governance_only(ledger: Ledger, signer: str) -> None:
    payload = {"code": "HKD", "numeric": "344", "exponent": 2, "issuer": "cb1",
               "name": "Digital dollar"}
    assert ledger.refused(signer, "currency.add_currency", payload) == "governance_only"


@pytest.mark.parametrize("signer", ["cb1", "bank1", "reg"])
def test_set_tier_by_a_direct_tx_is_governance_only(ledger: Ledger, signer: str) -> None:
    payload = tier_payload("CNY", "anon", {**CNY_ANON, "balance_max": 10**9}, 2)
    assert ledger.refused(signer, "currency.set_tier", payload) == "governance_only"


def test_a_governance_proposal_adds_a_currency_and_a_tier(ledger: Ledger) -> None:
    ledger.invoke("currency.add_currency", {"code": "HKD", "numeric": "344", "exponent": 2,
                                            "issuer": "cb2", "name": "e-HKD"})
    ledger.invoke("currency.set_tier", tier_payload("HKD", "basic", CNY_ANON, 2))
    ledger.ok("cb2", "currency.issue", {"currency": "HKD", "bank": "bank2", "amount": "5.00"})
    assert ledger.reserve("HKD", "bank2") == 500


@pytest.mark.parametrize(("kind", "payload", "why"), [
    ("currency.add_currency", {"code": "CNY", "numeric": "156", "exponent": 2,
                               "issuer": "cb1", "name": "again"}, "currency_exists"),
    ("currency.add_currency", {"code": "hkd", "numeric": "344", "exponent": 2,
                               "issuer": "cb1", "name": "x"}, "bad_currency"),
    ("currency.add_currency", {"code": "HKD", "numeric": "34", "exponent": 2,
                               "issuer": "cb1", "name": "x"}, "bad_currency"),
    ("currency.add_currency", {"code": "HKD", "numeric": "344", "exponent": 5,
                               "issuer": "cb1", "name": "x"}, "bad_currency"),
    ("currency.add_currency", {"code": "HKD", "numeric": "344", "exponent": 2,
                               "issuer": "bank1", "name": "x"}, "bad_issuer"),
    ("currency.add_currency", {"code": "HKD", "numeric": "344", "exponent": 2,
                               "issuer": "cb1", "name": ""}, "bad_currency"),
    ("currency.set_tier", tier_payload("XXX", "anon", CNY_ANON, 2), "unknown_currency"),
    ("currency.set_tier", tier_payload("CNY", "A", CNY_ANON, 2), "bad_tier"),
    ("currency.set_tier", tier_payload("CNY", "anon", {**CNY_ANON, "payment_max": 5_001}, 2),
     "bad_tier"),
    ("currency.set_tier", {**tier_payload("CNY", "anon", CNY_ANON, 2), "daily_max": "1.001"},
     "bad_amount"),
])
def test_a_proposal_that_could_never_be_enacted_is_refused_when_proposed(
        ledger: Ledger, kind: str, payload: dict[str, Any], why: str) -> None:
    code = ledger.refused("cb1", "governance.propose",
                          {"action": {"type": "invoke", "kind": kind, "payload": payload}})
    assert code == "bad_proposal"
    result = ledger.run("cb1", "governance.propose",
                        {"action": {"type": "invoke", "kind": kind, "payload": payload}})
    assert f"{kind}: {why}:" in result.message


# -- issue and redeem ----------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["currency.issue", "currency.redeem"])
@pytest.mark.parametrize(("signer", "code"), [
    ("cb2", "not_issuer"),  # a central bank, but not CNY's
    ("bank1", "not_allowed"),
    ("reg", "not_allowed"),
    ("net", "not_allowed"),
    ("alice", "not_allowed"),
    ("stranger", "not_allowed"),
])
def test_only_the_issuing_central_bank_issues_and_redeems(
        ledger: Ledger, action: str, signer: str, code: str) -> None:
    payload = {"currency": "CNY", "bank": "bank1", "amount": "1.00"}
    assert ledger.refused(signer, action, payload) == code


def test_the_issuer_issues_and_redeems_its_own_currency(ledger: Ledger) -> None:
    before = ledger.reserve("JPY", "bank2")
    ledger.ok("cb2", "currency.issue", {"currency": "JPY", "bank": "bank2", "amount": "700"})
    ledger.ok("cb2", "currency.redeem", {"currency": "JPY", "bank": "bank2", "amount": "200"})
    assert ledger.reserve("JPY", "bank2") == before + 500
    assert ledger.refused("cb1", "currency.issue",
                          {"currency": "JPY", "bank": "bank2", "amount": "1"}) == "not_issuer"


@pytest.mark.parametrize("action", ["currency.issue", "currency.redeem"])
@pytest.mark.parametrize("bank", ["reg", "cb2", "net", "nobody", ""])
def test_issue_and_redeem_need_an_active_bank(ledger: Ledger, action: str, bank: str) -> None:
    payload = {"currency": "CNY", "bank": bank, "amount": "1.00"}
    assert ledger.refused("cb1", action, payload) == "unknown_bank"


def test_a_removed_bank_gets_no_more_issuance(ledger: Ledger) -> None:
    ledger.adopt({"type": "remove_member", "id": "bank2"})
    assert ledger.refused("cb1", "currency.issue",
                          {"currency": "CNY", "bank": "bank2", "amount": "1.00"}) == "unknown_bank"


@pytest.mark.parametrize("action", ["currency.issue", "currency.redeem"])
def test_issue_and_redeem_of_an_unknown_currency(ledger: Ledger, action: str) -> None:
    assert ledger.refused("cb1", action, {"currency": "USD", "bank": "bank1",
                                          "amount": "1.00"}) == "unknown_currency"


@pytest.mark.parametrize("amount", ["0", "0.00", "-1", "1.001", "1e3", "", "abc"])
def test_issue_refuses_bad_amounts(ledger: Ledger, amount: str) -> None:
    assert ledger.refused("cb1", "currency.issue", {"currency": "CNY", "bank": "bank1",
                                                    "amount": amount}) == "bad_amount"


def test_redeem_takes_at_most_the_reserve(ledger: Ledger) -> None:
    reserve = ledger.reserve("CNY", "bank1")
    too_much = {"currency": "CNY", "bank": "bank1", "amount": format_amount(reserve + 1, 2)}
    assert ledger.refused("cb1", "currency.redeem", too_much) == "insufficient_reserve"
    ledger.ok("cb1", "currency.redeem",
              {"currency": "CNY", "bank": "bank1", "amount": format_amount(reserve, 2)})
    assert ledger.reserve("CNY", "bank1") == 0
    assert ledger.refused("cb1", "currency.redeem", {"currency": "CNY", "bank": "bank1",
                                                     "amount": "0.01"}) == "insufficient_reserve"


def test_redeem_from_a_bank_without_a_reserve_is_refused(ledger: Ledger) -> None:
    ledger.adopt({"type": "admit_member", "id": "bank3", "name": "Bank 3", "role": "bank",
                  "key": public("stranger")})
    assert ledger.refused("cb1", "currency.redeem", {"currency": "CNY", "bank": "bank3",
                                                     "amount": "0.01"}) == "insufficient_reserve"


def test_issue_is_bounded_by_the_ledgers_supply_limit(ledger: Ledger) -> None:
    huge = {"currency": "JPY", "bank": "bank1", "amount": str(10**17)}
    assert ledger.refused("cb2", "currency.issue", huge) == "supply_limit"
    outstanding = sum(v for (c, _), v in RESERVES.items() if c == "JPY")
    ledger.ok("cb2", "currency.issue", {"currency": "JPY", "bank": "bank1",
                                         "amount": str(10**17 - outstanding)})


# -- operator-bank actions -----------------------------------------------------------------------

@pytest.mark.parametrize(("signer", "code"), [
    ("cb1", "not_allowed"), ("reg", "not_allowed"), ("net", "not_allowed"),
    ("alice", "not_allowed"), ("stranger", "not_allowed"),
])
def test_only_a_bank_opens_wallets(ledger: Ledger, signer: str, code: str) -> None:
    assert ledger.refused(signer, "currency.open_wallet", NEW_WALLET) == code


@pytest.mark.parametrize(("change", "code"), [
    ({"currency": "USD"}, "unknown_currency"),
    ({"tier": "gold"}, "unknown_tier"),
    ({"currency": "JPY", "tier": "full"}, "unknown_tier"),  # CNY has "full", JPY has not
    ({"wallet_id": "ab"}, "bad_wallet_id"),
    ({"wallet_id": "Alice"}, "bad_wallet_id"),
    ({"wallet_id": "-alice"}, "bad_wallet_id"),
    ({"wallet_id": "a/b/c"}, "bad_wallet_id"),
    ({"wallet_id": "x" * 41}, "bad_wallet_id"),
    ({"owner_key": "ab" * 31}, "bad_owner_key"),
    ({"owner_key": public("dave").upper()}, "bad_owner_key"),
    ({"owner_key": "zz" * 32}, "bad_owner_key"),
    ({"holder": "company"}, "bad_holder"),
    ({"label": "x" * 101}, "bad_label"),
    ({"wallet_id": "alice-cny"}, "wallet_exists"),
])
def test_open_wallet_refuses_bad_requests(ledger: Ledger, change: dict[str, Any],
                                          code: str) -> None:
    assert ledger.refused("bank1", "currency.open_wallet", {**NEW_WALLET, **change}) == code


def test_open_wallet_with_a_payload_of_the_wrong_shape(ledger: Ledger) -> None:
    assert ledger.refused("bank1", "currency.open_wallet",
                          {**NEW_WALLET, "balance": "100.00"}) == "bad_payload"
    assert ledger.refused("bank1", "currency.open_wallet",
                          {"wallet_id": "new-wallet"}) == "bad_payload"


def test_a_bank_opens_a_wallet_it_then_operates(ledger: Ledger) -> None:
    result = ledger.ok("bank2", "currency.open_wallet", NEW_WALLET)
    assert result.data == {"wallet_id": "new-wallet"}
    wallet = ledger.wallet("new-wallet")
    assert (wallet.operator, wallet.owner_key, wallet.balance_minor, wallet.status) == (
        "bank2", public("dave"), 0, "active")


@pytest.mark.parametrize(("kind", "payload"), [
    ("currency.set_wallet_tier", {"wallet_id": "alice-cny", "tier": "full"}),
    ("currency.distribute", {"wallet_id": "alice-cny", "amount": "1.00"}),
    ("currency.freeze", {"wallet_id": "alice-cny", "reason": "court_order"}),
])
@pytest.mark.parametrize("signer", ["bank2", "cb1", "net", "alice", "stranger"])
def test_only_the_operator_bank_manages_a_wallet(ledger: Ledger, kind: str,
                                                 payload: dict[str, Any], signer: str) -> None:
    assert ledger.refused(signer, kind, payload) == "not_allowed"


@pytest.mark.parametrize("signer", ["bank2", "cb1", "alice", "stranger"])
def test_only_the_operator_or_regulator_unfreezes(ledger: Ledger, signer: str) -> None:
    ledger.ok("bank1", "currency.freeze", {"wallet_id": "alice-cny", "reason": "court_order"})
    assert ledger.refused(signer, "currency.unfreeze",
                          {"wallet_id": "alice-cny", "reason": "court_order"}) == "not_allowed"


@pytest.mark.parametrize("signer", ["reg", "bank1"])
def test_the_regulator_and_the_operator_may_freeze_and_unfreeze(ledger: Ledger,
                                                                signer: str) -> None:
    ledger.ok(signer, "currency.freeze", {"wallet_id": "alice-cny", "reason": "sanctions"})
    assert ledger.wallet("alice-cny").freeze_reason == "sanctions"
    ledger.ok(signer, "currency.unfreeze", {"wallet_id": "alice-cny", "reason": "other"})
    assert ledger.wallet("alice-cny").status == "active"


def test_the_regulator_sets_no_tiers_and_moves_no_money(ledger: Ledger) -> None:
    assert ledger.refused("reg", "currency.set_wallet_tier",
                          {"wallet_id": "alice-cny", "tier": "full"}) == "not_allowed"
    assert ledger.refused("reg", "currency.distribute",
                          {"wallet_id": "alice-cny", "amount": "1.00"}) == "not_allowed"


@pytest.mark.parametrize(("kind", "payload"), [
    ("currency.set_wallet_tier", {"wallet_id": "nobody", "tier": "full"}),
    ("currency.distribute", {"wallet_id": "nobody", "amount": "1.00"}),
    ("currency.freeze", {"wallet_id": "nobody", "reason": "court_order"}),
    ("currency.unfreeze", {"wallet_id": "nobody", "reason": "court_order"}),
    ("currency.collect", {"wallet_id": "nobody", "amount": "1.00"}),
    ("currency.transfer", {"from_wallet": "nobody", "to_wallet": "bob-cny", "amount": "1.00"}),
])
def test_actions_on_an_unknown_wallet(ledger: Ledger, kind: str, payload: dict[str, Any],
                                      ) -> None:
    assert ledger.refused("bank1", kind, payload) == "unknown_wallet"


def test_set_wallet_tier_to_an_unknown_tier(ledger: Ledger) -> None:
    assert ledger.refused("bank1", "currency.set_wallet_tier",
                          {"wallet_id": "alice-cny", "tier": "gold"}) == "unknown_tier"
    # A tier of another currency is unknown to this wallet.
    ledger.invoke("currency.set_tier", tier_payload("JPY", "big", {
        "balance_max": 10**6, "payment_max": 10**5, "daily_max": 10**5}, 0))
    assert ledger.refused("bank1", "currency.set_wallet_tier",
                          {"wallet_id": "alice-cny", "tier": "big"}) == "unknown_tier"


def test_distribute_takes_at_most_the_reserve(ledger: Ledger) -> None:
    # Empty bank1's CNY reserve down to 0.50, then try to hand out 0.51.
    reserve = ledger.reserve("CNY", "bank1")
    ledger.ok("cb1", "currency.redeem",
              {"currency": "CNY", "bank": "bank1", "amount": format_amount(reserve - 50, 2)})
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "alice-cny", "amount": "0.51"}) == "insufficient_reserve"
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "alice-cny", "amount": "0.50"})
    assert ledger.reserve("CNY", "bank1") == 0


def test_distribute_from_a_bank_without_a_reserve_in_that_currency(ledger: Ledger) -> None:
    ledger.ok("cb2", "currency.redeem", {"currency": "JPY", "bank": "bank1",
                                         "amount": str(ledger.reserve("JPY", "bank1"))})
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "dave-jpy", "amount": "1"}) == "insufficient_reserve"


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001", " 1", "1,00", "12e2"])
def test_distribute_refuses_bad_amounts(ledger: Ledger, amount: str) -> None:
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "alice-cny", "amount": amount}) == "bad_amount"


@pytest.mark.parametrize("kind", ["currency.freeze", "currency.unfreeze"])
@pytest.mark.parametrize("reason", ["", "because", "COURT_ORDER", "court order"])
def test_freeze_and_unfreeze_reasons_are_from_the_list(ledger: Ledger, kind: str,
                                                       reason: str) -> None:
    if kind == "currency.unfreeze":
        ledger.ok("bank1", "currency.freeze", {"wallet_id": "alice-cny", "reason": "other"})
    assert ledger.refused("bank1", kind, {"wallet_id": "alice-cny",
                                          "reason": reason}) == "bad_reason"


def test_freezing_twice_or_unfreezing_an_active_wallet_is_refused(ledger: Ledger) -> None:
    assert ledger.refused("bank1", "currency.unfreeze",
                          {"wallet_id": "alice-cny", "reason": "other"}) == "not_frozen"
    ledger.ok("bank1", "currency.freeze", {"wallet_id": "alice-cny", "reason": "kyc_review"})
    assert ledger.refused("reg", "currency.freeze",
                          {"wallet_id": "alice-cny", "reason": "sanctions"}) == "already_frozen"


# -- owner actions -------------------------------------------------------------------------------

@pytest.mark.parametrize("signer", ["bob", "bank1", "reg", "cb1", "stranger"])
def test_only_the_owner_key_collects(ledger: Ledger, signer: str) -> None:
    assert ledger.refused(signer, "currency.collect",
                          {"wallet_id": "alice-cny", "amount": "1.00"}) == "not_owner"


@pytest.mark.parametrize("signer", ["bob", "bank1", "reg", "cb1", "stranger"])
def test_only_the_owner_key_transfers(ledger: Ledger, signer: str) -> None:
    assert ledger.refused(signer, "currency.transfer", {
        "from_wallet": "alice-cny", "to_wallet": "bob-cny", "amount": "1.00"}) == "not_owner"


def test_collect_returns_money_to_the_operators_reserve(ledger: Ledger) -> None:
    reserve = ledger.reserve("CNY", "bank1")
    assert ledger.refused("alice", "currency.collect",
                          {"wallet_id": "alice-cny", "amount": "50.01"}) == "insufficient_funds"
    ledger.ok("alice", "currency.collect", {"wallet_id": "alice-cny", "amount": "50.00"})
    assert ledger.balance("alice-cny") == 0
    assert ledger.reserve("CNY", "bank1") == reserve + 5_000


@pytest.mark.parametrize(("change", "code"), [
    ({"to_wallet": "nobody"}, "unknown_wallet"),
    ({"to_wallet": "alice-cny"}, "same_wallet"),
    ({"to_wallet": "dave-jpy"}, "currency_mismatch"),
    ({"memo": "x" * 141}, "bad_memo"),
    ({"amount": "1.001"}, "bad_amount"),
    ({"amount": "0"}, "bad_amount"),
    ({"amount": "-1"}, "bad_amount"),
    ({"amount": "20.01"}, "payment_limit"),
])
def test_transfer_refuses_bad_requests(ledger: Ledger, change: dict[str, Any], code: str,
                                       ) -> None:
    payload = {"from_wallet": "alice-cny", "to_wallet": "bob-cny", "amount": "1.00", **change}
    assert ledger.refused("alice", "currency.transfer", payload) == code


def test_transfer_more_than_the_balance(ledger: Ledger) -> None:
    # bob holds 200.00 in the "full" tier (per-payment 500.00).
    assert ledger.refused("bob", "currency.transfer", {
        "from_wallet": "bob-cny", "to_wallet": "shop-cny",
        "amount": "200.01"}) == "insufficient_funds"
    ledger.ok("bob", "currency.transfer",
              {"from_wallet": "bob-cny", "to_wallet": "shop-cny", "amount": "200.00"})
    assert (ledger.balance("bob-cny"), ledger.balance("shop-cny")) == (0, 20_000)


def test_a_memo_of_exactly_the_maximum_length_passes(ledger: Ledger) -> None:
    ledger.ok("alice", "currency.transfer", {"from_wallet": "alice-cny", "to_wallet": "bob-cny",
                                             "amount": "1.00", "memo": "家" * 140})


def test_a_transfer_is_executed_once_however_often_it_is_submitted(ledger: Ledger) -> None:
    stx = ledger.tx("alice", "currency.transfer",
                    {"from_wallet": "alice-cny", "to_wallet": "bob-cny", "amount": "5.00"})
    ledger.run_txs([stx])
    before = dict(ledger.chain.state.items)
    assert ledger.chain.apply_batch(999, ledger.now_ms, [env(stx), env(stx)]) is None
    assert ledger.chain.state.items == before
    assert ledger.balance("alice-cny") == 4_500
