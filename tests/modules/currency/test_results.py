"""Results leak nothing: receipts carry no balances, amounts or counterparties.

A receipt can be fetched by anyone who knows a tx id, so a currency result's ``data`` is empty
or names only the ids the tx itself created, and no message repeats a balance or a reserve.
"""

from __future__ import annotations

from consortia.ledger.result import TxResult
from consortia.modules.currency import queries
from consortia.modules.currency.amounts import format_amount
from tests.modules.currency.support import Ledger, public, tier_payload

ID_FIELDS = {"wallet_id", "currency", "tier"}


def every_action(ledger: Ledger) -> list[TxResult]:
    """Every currency action once accepted and once or more rejected."""
    t = ledger.tx
    pay = {"from_wallet": "alice-cny", "to_wallet": "bob-cny"}
    txs = [
        t("cb1", "currency.issue", {"currency": "CNY", "bank": "bank1", "amount": "12.34"}),
        t("cb1", "currency.issue", {"currency": "CNY", "bank": "bank1", "amount": "1.234"}),
        t("cb1", "currency.redeem", {"currency": "CNY", "bank": "bank1", "amount": "2.34"}),
        t("cb1", "currency.redeem", {"currency": "CNY", "bank": "bank2",
                                     "amount": "99999999.99"}),
        t("bank1", "currency.open_wallet", {"wallet_id": "frank-cny", "currency": "CNY",
                                            "owner_key": public("stranger"), "tier": "anon"}),
        t("bank1", "currency.open_wallet", {"wallet_id": "frank-cny", "currency": "CNY",
                                            "owner_key": public("stranger"), "tier": "anon"}),
        t("bank1", "currency.distribute", {"wallet_id": "frank-cny", "amount": "7.77"}),
        t("bank1", "currency.distribute", {"wallet_id": "frank-cny", "amount": "99.99"}),
        t("bank1", "currency.set_wallet_tier", {"wallet_id": "frank-cny", "tier": "full"}),
        t("bank1", "currency.set_wallet_tier", {"wallet_id": "bob-cny", "tier": "anon"}),
        t("alice", "currency.transfer", {**pay, "amount": "3.21", "memo": "for you"}),
        t("alice", "currency.transfer", {**pay, "amount": "46.80"}),
        t("alice", "currency.transfer", {**pay, "amount": "19.99"}),
        t("alice", "currency.collect", {"wallet_id": "alice-cny", "amount": "1.11"}),
        t("alice", "currency.collect", {"wallet_id": "alice-cny", "amount": "999.00"}),
        t("bank1", "currency.freeze", {"wallet_id": "alice-cny", "reason": "court_order"}),
        t("alice", "currency.transfer", {**pay, "amount": "1.00"}),
        t("bob", "currency.transfer", {"from_wallet": "bob-cny", "to_wallet": "alice-cny",
                                       "amount": "1.00"}),
        t("reg", "currency.unfreeze", {"wallet_id": "alice-cny", "reason": "court_order"}),
        t("reg", "currency.unfreeze", {"wallet_id": "alice-cny", "reason": "court_order"}),
        t("cb1", "currency.add_currency", {"code": "HKD", "numeric": "344", "exponent": 2,
                                           "issuer": "cb1", "name": "x"}),
        t("cb1", "currency.set_tier", tier_payload("CNY", "anon", {
            "balance_max": 1, "payment_max": 1, "daily_max": 1}, 2)),
    ]
    results = ledger.run_txs(txs)
    assert {r.kind for r in results if r.accepted} >= {
        "currency.issue", "currency.redeem", "currency.open_wallet", "currency.distribute",
        "currency.set_wallet_tier", "currency.transfer", "currency.collect",
        "currency.freeze", "currency.unfreeze"}
    assert sum(not r.accepted for r in results) >= 10
    return results


def test_results_carry_only_ids(ledger: Ledger) -> None:
    results = every_action(ledger)
    known_ids = {"frank-cny", "CNY", "anon", "full"}
    for r in results:
        assert set(r.data) <= ID_FIELDS, r
        assert set(r.data.values()) <= known_ids, r
        if not r.accepted:
            assert r.data == {}
    opened = [r.data for r in results if r.accepted and r.kind == "currency.open_wallet"]
    assert opened == [{"wallet_id": "frank-cny"}]


def test_governance_enacted_currency_actions_leak_no_amounts(ledger: Ledger) -> None:
    # Currencies and tiers were adopted by proposal at set-up: the proposals and votes that
    # enacted them say which proposal and how it stands, nothing about money.
    rows = [r for r in ledger.chain.store.recent_txs(1000) if r.kind.startswith("governance.")]
    assert rows
    for row in rows:
        receipt = ledger.chain.receipt(row.tx_id)
        assert receipt is not None
        assert set(receipt["result"]["data"]) <= {"proposal_id", "status", "yes", "no"}


def test_no_message_repeats_a_balance_or_a_reserve(ledger: Ledger) -> None:
    results = every_action(ledger)
    state = ledger.chain.state
    secrets = {format_amount(w.balance_minor, 2) for w in
               (queries.wallet(state, i) for i in ("alice-cny", "bob-cny", "frank-cny"))
               if w is not None and w.balance_minor}
    secrets |= {format_amount(r.balance_minor, 2) for r in queries.reserves(state, "CNY")}
    for r in results:
        for secret in secrets:
            assert secret not in r.message, (r, secret)


def test_receipts_of_currency_txs_show_no_amounts(ledger: Ledger) -> None:
    results = every_action(ledger)
    assert results
    for row in ledger.chain.store.recent_txs(1000):
        if not row.kind.startswith("currency."):
            continue
        receipt = ledger.chain.receipt(row.tx_id)
        assert receipt is not None
        data = receipt["result"]["data"]
        assert set(data) <= ID_FIELDS
