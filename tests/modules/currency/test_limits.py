"""Each wallet-tier limit at its boundary: exactly at the cap passes, one minor unit over fails.

CNY "anon" tier: balance 100.00, per payment 20.00, per day 50.00. The day rolls over at local
midnight of the network's time zone (parameter ``day_offset_ms``, UTC+8 by default).
"""

from __future__ import annotations

from typing import Any

from tests.modules.currency.support import (
    DAY_MS,
    HOUR_MS,
    MIDNIGHT_MS,
    Ledger,
)


def pay(from_wallet: str, to_wallet: str, amount: str) -> dict[str, Any]:
    return {"from_wallet": from_wallet, "to_wallet": to_wallet, "amount": amount}


def test_distribute_up_to_exactly_the_tier_balance_cap(ledger: Ledger) -> None:
    # alice-cny (anon, cap 100.00) holds 50.00.
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "alice-cny", "amount": "50.01"}) == "balance_limit"
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "alice-cny", "amount": "50.00"})
    assert ledger.balance("alice-cny") == 10_000
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "alice-cny", "amount": "0.01"}) == "balance_limit"


def test_jpy_distribute_cap_in_whole_yen(ledger: Ledger) -> None:
    # dave-jpy (anon, cap 10000 yen) holds 4000.
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "dave-jpy", "amount": "6001"}) == "balance_limit"
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "dave-jpy", "amount": "6000.0"}) == "bad_amount"
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "dave-jpy", "amount": "6000"})
    assert ledger.balance("dave-jpy") == 10_000


def test_transfer_in_up_to_exactly_the_receivers_balance_cap(ledger: Ledger) -> None:
    # carol-cny (anon, cap 100.00) holds 30.00; bob (full tier) sends.
    ledger.ok("bank2", "currency.distribute", {"wallet_id": "carol-cny", "amount": "60.00"})
    assert ledger.refused("bob", "currency.transfer",
                          pay("bob-cny", "carol-cny", "10.01")) == "balance_limit"
    ledger.ok("bob", "currency.transfer", pay("bob-cny", "carol-cny", "10.00"))
    assert ledger.balance("carol-cny") == 10_000
    assert ledger.refused("bob", "currency.transfer",
                          pay("bob-cny", "carol-cny", "0.01")) == "balance_limit"
    # Paying out makes room again.
    ledger.ok("carol", "currency.transfer", pay("carol-cny", "shop-cny", "0.01"))
    ledger.ok("bob", "currency.transfer", pay("bob-cny", "carol-cny", "0.01"))


def test_per_payment_cap(ledger: Ledger) -> None:
    assert ledger.refused("alice", "currency.transfer",
                          pay("alice-cny", "bob-cny", "20.01")) == "payment_limit"
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"))
    # The sender's tier decides, not the receiver's: bob (full) may pay 500.00 at once, but
    # holds only 220.00.
    ledger.ok("bob", "currency.transfer", pay("bob-cny", "shop-cny", "220.00"))


def test_per_payment_cap_in_whole_yen(ledger: Ledger) -> None:
    assert ledger.refused("dave", "currency.transfer",
                          pay("dave-jpy", "erin-jpy", "2001")) == "payment_limit"
    ledger.ok("dave", "currency.transfer", pay("dave-jpy", "erin-jpy", "2000"))
    assert (ledger.balance("dave-jpy"), ledger.balance("erin-jpy")) == (2_000, 2_000)


def test_daily_cap_counts_every_payment_of_the_day(ledger: Ledger) -> None:
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "alice-cny", "amount": "50.00"})
    for _ in range(2):
        ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"))
    assert ledger.refused("alice", "currency.transfer",
                          pay("alice-cny", "bob-cny", "10.01")) == "daily_limit"
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "10.00"))
    assert ledger.refused("alice", "currency.transfer",
                          pay("alice-cny", "bob-cny", "0.01")) == "daily_limit"
    assert ledger.wallet("alice-cny").spent_today_minor == 5_000
    # Collecting back to bank deposits is not a payment: no daily limit applies.
    ledger.ok("alice", "currency.collect", {"wallet_id": "alice-cny", "amount": "50.00"})


def test_daily_cap_rolls_over_at_local_midnight_utc_plus_8(ledger: Ledger) -> None:
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "alice-cny", "amount": "50.00"},
              at_ms=MIDNIGHT_MS - HOUR_MS)
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"))
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"))
    # 15:59:59.999 UTC is 23:59:59.999 in UTC+8: still the old day, 40.00 already spent.
    assert ledger.refused("alice", "currency.transfer", pay("alice-cny", "bob-cny", "10.01"),
                          at_ms=MIDNIGHT_MS - 1) == "daily_limit"
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "10.00"))
    assert ledger.refused("alice", "currency.transfer",
                          pay("alice-cny", "bob-cny", "0.01")) == "daily_limit"
    # 16:00:00.000 UTC is midnight in UTC+8: a new day, a fresh 50.00.
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"),
              at_ms=MIDNIGHT_MS)
    wallet = ledger.wallet("alice-cny")
    assert wallet.spent_today_minor == 2_000
    assert wallet.day == (MIDNIGHT_MS + 8 * HOUR_MS) // DAY_MS


def test_a_transfer_just_before_midnight_counts_on_the_old_day(ledger: Ledger) -> None:
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "alice-cny", "amount": "50.00"})
    # Set-up ran at 22:13 local time; this payment is on that same local day.
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"))
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"),
              at_ms=MIDNIGHT_MS - 1)
    assert ledger.wallet("alice-cny").spent_today_minor == 4_000
    # Next local day: the two old payments no longer count.
    for _ in range(2):
        ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"),
                  at_ms=MIDNIGHT_MS)
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "10.00"),
              at_ms=MIDNIGHT_MS + DAY_MS - 1)
    assert ledger.refused("bank1", "currency.distribute",
                          {"wallet_id": "alice-cny", "amount": "90.01"}) == "balance_limit"


def test_day_boundary_follows_the_day_offset_parameter(ledger: Ledger) -> None:
    ledger.set_param("day_offset_ms", 0)  # UTC
    utc_midnight = (ledger.now_ms // DAY_MS + 1) * DAY_MS
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "alice-cny", "amount": "50.00"},
              at_ms=MIDNIGHT_MS - 2)
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"),
              at_ms=MIDNIGHT_MS - 1)
    # 16:00 UTC is no longer a boundary: this counts on the same day as the one before.
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "20.00"),
              at_ms=MIDNIGHT_MS)
    assert ledger.refused("alice", "currency.transfer", pay("alice-cny", "bob-cny", "10.01"),
                          at_ms=utc_midnight - 1) == "daily_limit"
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "10.01"),
              at_ms=utc_midnight)


def test_set_wallet_tier_below_the_balance_is_refused(ledger: Ledger) -> None:
    # bob-cny (full) holds 200.00; anon caps balances at 100.00.
    assert ledger.refused("bank1", "currency.set_wallet_tier",
                          {"wallet_id": "bob-cny", "tier": "anon"}) == "balance_limit"
    ledger.ok("bob", "currency.collect", {"wallet_id": "bob-cny", "amount": "99.99"})
    assert ledger.refused("bank1", "currency.set_wallet_tier",
                          {"wallet_id": "bob-cny", "tier": "anon"}) == "balance_limit"
    ledger.ok("bob", "currency.collect", {"wallet_id": "bob-cny", "amount": "0.01"})
    ledger.ok("bank1", "currency.set_wallet_tier", {"wallet_id": "bob-cny", "tier": "anon"})
    wallet = ledger.wallet("bob-cny")
    assert (wallet.tier, wallet.balance_minor) == ("anon", 10_000)
    # The new tier's limits apply at once.
    assert ledger.refused("bob", "currency.transfer",
                          pay("bob-cny", "shop-cny", "20.01")) == "payment_limit"


def test_upgrading_a_tier_raises_the_limits(ledger: Ledger) -> None:
    ledger.ok("bank1", "currency.set_wallet_tier", {"wallet_id": "alice-cny", "tier": "full"})
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "alice-cny", "amount": "950.00"})
    assert ledger.balance("alice-cny") == 100_000
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "500.00"))
    assert ledger.refused("alice", "currency.transfer",
                          pay("alice-cny", "bob-cny", "300.01")) == "daily_limit"
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "300.00"))


def test_a_tier_changed_by_governance_applies_to_its_wallets(ledger: Ledger) -> None:
    # Lower the anon balance cap to 40.00: alice (50.00) keeps her money but receives nothing.
    ledger.invoke("currency.set_tier", {"currency": "CNY", "tier": "anon", "name": "Anon",
                                        "balance_max": "40.00", "payment_max": "20.00",
                                        "daily_max": "50.00"})
    assert ledger.refused("bob", "currency.transfer",
                          pay("bob-cny", "alice-cny", "0.01")) == "balance_limit"
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "10.00"))
    assert ledger.refused("bob", "currency.transfer",
                          pay("bob-cny", "alice-cny", "0.01")) == "balance_limit"
    ledger.ok("alice", "currency.transfer", pay("alice-cny", "bob-cny", "0.01"))
    ledger.ok("bob", "currency.transfer", pay("bob-cny", "alice-cny", "0.01"))
