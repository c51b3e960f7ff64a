"""Statements: a wallet's history with running balances, paged newest first, and as CSV."""

from __future__ import annotations

import csv
import io

import pytest

from consortia.ledger.tx import Envelope
from consortia.modules.currency import queries
from consortia.modules.currency.queries import STATEMENT_COLUMNS, latest_entries, statement_csv
from consortia.modules.currency.types import Entry
from tests.modules.currency.support import Ledger


def entries(ledger: Ledger, wallet_id: str, limit: int = 1000,
            before_seq: int | None = None) -> list[Entry]:
    return latest_entries(ledger.chain.store, ledger.chain.state, wallet_id, limit, before_seq)


@pytest.fixture
def busy(ledger: Ledger) -> Ledger:
    """carol-cny with 6 entries: distribute at set-up, then five more."""
    ledger.ok("carol", "currency.transfer",
              {"from_wallet": "carol-cny", "to_wallet": "shop-cny", "amount": "1.00",
               "memo": "=HYPERLINK(\"http://evil\",\"click\")"})
    ledger.ok("bob", "currency.transfer",
              {"from_wallet": "bob-cny", "to_wallet": "carol-cny", "amount": "2.50",
               "memo": "lunch, \"dim sum\"\nthanks"})
    ledger.ok("carol", "currency.collect", {"wallet_id": "carol-cny", "amount": "0.25"})
    ledger.ok("bank2", "currency.distribute", {"wallet_id": "carol-cny", "amount": "10.00"})
    ledger.ok("carol", "currency.transfer",
              {"from_wallet": "carol-cny", "to_wallet": "shop-cny", "amount": "0.01",
               "memo": "-1+1"})
    return ledger


def test_entries_carry_running_balances_that_chain(busy: Ledger) -> None:
    found = entries(busy, "carol-cny")[::-1]
    assert [e.seq for e in found] == list(range(6))
    assert [e.kind for e in found] == ["distribute", "transfer_out", "transfer_in", "collect",
                                       "distribute", "transfer_out"]
    assert [e.amount_minor for e in found] == [3_000, -100, 250, -25, 1_000, -1]
    running = 0
    for e in found:
        running += e.amount_minor
        assert e.balance_minor == running
    assert running == busy.balance("carol-cny") == busy.wallet("carol-cny").balance_minor
    assert [e.counterparty for e in found] == ["reserve:bank2", "shop-cny", "bob-cny",
                                               "reserve:bank2", "reserve:bank2", "shop-cny"]


def test_each_entry_names_the_tx_with_a_receipt(busy: Ledger) -> None:
    for e in entries(busy, "carol-cny"):
        receipt = busy.chain.receipt(bytes.fromhex(e.tx_id))
        assert receipt is not None
        assert receipt["result"]["status"] == "accepted"
        assert receipt["result"]["height"] == e.height


def test_a_transfer_appears_on_both_statements_with_the_same_tx(busy: Ledger) -> None:
    stx = busy.tx("bob", "currency.transfer",
                  {"from_wallet": "bob-cny", "to_wallet": "carol-cny", "amount": "0.07"})
    busy.run_txs([stx])
    tx_id = Envelope(stx).tx_id.hex()
    out, in_ = entries(busy, "bob-cny", 1)[0], entries(busy, "carol-cny", 1)[0]
    assert (out.tx_id, out.kind, out.amount_minor) == (tx_id, "transfer_out", -7)
    assert (in_.tx_id, in_.kind, in_.amount_minor) == (tx_id, "transfer_in", 7)


def test_latest_entries_pages_newest_first(busy: Ledger) -> None:
    assert [e.seq for e in entries(busy, "carol-cny", 2)] == [5, 4]
    assert [e.seq for e in entries(busy, "carol-cny", 2, before_seq=4)] == [3, 2]
    assert [e.seq for e in entries(busy, "carol-cny", 2, before_seq=2)] == [1, 0]
    assert [e.seq for e in entries(busy, "carol-cny", 2, before_seq=1)] == [0]
    assert entries(busy, "carol-cny", 2, before_seq=0) == []
    assert [e.seq for e in entries(busy, "carol-cny", 3, before_seq=99)] == [5, 4, 3]
    assert [e.seq for e in entries(busy, "carol-cny", 100)] == [5, 4, 3, 2, 1, 0]


def test_paging_walks_the_whole_history_once(busy: Ledger) -> None:
    seen: list[int] = []
    before: int | None = None
    while page := entries(busy, "carol-cny", 4, before):
        seen.extend(e.seq for e in page)
        before = page[-1].seq
    assert seen == [5, 4, 3, 2, 1, 0]


def test_paging_does_not_leak_into_another_wallets_entries(ledger: Ledger) -> None:
    # "bob-cny" is a prefix-neighbour of "bob-cny2"; pages of one never show the other.
    ledger.ok("bank1", "currency.open_wallet", {"wallet_id": "bob-cny2", "currency": "CNY",
                                                "owner_key": "ab" * 32, "tier": "anon"})
    ledger.ok("bank1", "currency.distribute", {"wallet_id": "bob-cny2", "amount": "1.00"})
    assert {e.wallet for e in entries(ledger, "bob-cny")} == {"bob-cny"}
    assert [e.wallet for e in entries(ledger, "bob-cny2")] == ["bob-cny2"]


@pytest.mark.parametrize(("limit", "before_seq"), [(0, None), (-1, None), (-5, 3), (-2, 2), (2, -1),
                                                   (2, -100)])
def test_nonsense_page_arguments_return_nothing(busy: Ledger, limit: int,
                                                before_seq: int | None) -> None:
    assert entries(busy, "carol-cny", limit, before_seq) == []


def test_an_unknown_or_empty_wallet_has_no_entries(ledger: Ledger) -> None:
    assert entries(ledger, "nobody") == []
    assert entries(ledger, "shop-cny") == []


def test_statement_csv_has_a_header_and_decimal_amounts(busy: Ledger) -> None:
    text = statement_csv(entries(busy, "carol-cny"), 2)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == STATEMENT_COLUMNS
    body = [dict(zip(STATEMENT_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert [r["seq"] for r in body] == ["0", "1", "2", "3", "4", "5"]  # oldest first
    assert [r["amount"] for r in body] == ["30.00", "-1.00", "2.50", "-0.25", "10.00", "-0.01"]
    assert [r["balance"] for r in body] == ["30.00", "29.00", "31.50", "31.25", "41.25",
                                            "41.24"]
    assert body[2]["memo"] == "lunch, \"dim sum\"\nthanks"  # quoted, survives intact


def test_statement_csv_in_whole_yen(ledger: Ledger) -> None:
    ledger.ok("dave", "currency.transfer",
              {"from_wallet": "dave-jpy", "to_wallet": "erin-jpy", "amount": "1500"})
    rows = list(csv.reader(io.StringIO(statement_csv(entries(ledger, "dave-jpy"), 0))))
    assert [(r[3], r[4]) for r in rows[1:]] == [("4000", "4000"), ("-1500", "2500")]


@pytest.mark.parametrize("memo", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1",
                                  "=HYPERLINK(\"http://evil\")"])
def test_statement_csv_neutralises_spreadsheet_formulas_in_memos(ledger: Ledger,
                                                                 memo: str) -> None:
    ledger.ok("alice", "currency.transfer", {"from_wallet": "alice-cny", "to_wallet": "bob-cny",
                                             "amount": "1.00", "memo": memo})
    rows = list(csv.reader(io.StringIO(statement_csv(entries(ledger, "bob-cny"), 2))))
    shown = rows[-1][STATEMENT_COLUMNS.index("memo")]
    assert shown == "'" + memo
    # The ledger keeps the memo as signed; only the export changes it.
    assert entries(ledger, "bob-cny", 1)[0].memo == memo


@pytest.mark.parametrize("memo", ["", "rent", "1+1", "a=b", "'quoted"])
def test_statement_csv_keeps_harmless_memos(ledger: Ledger, memo: str) -> None:
    ledger.ok("alice", "currency.transfer", {"from_wallet": "alice-cny", "to_wallet": "bob-cny",
                                             "amount": "1.00", "memo": memo})
    rows = list(csv.reader(io.StringIO(statement_csv(entries(ledger, "bob-cny"), 2))))
    assert rows[-1][STATEMENT_COLUMNS.index("memo")] == memo


def test_supply_view_shows_decimals(ledger: Ledger) -> None:
    supply = queries.supply(ledger.chain.state, "CNY")
    assert supply is not None
    view = queries.supply_view(supply, 2)
    assert view == {"currency": "CNY", "issued": "20000.00", "redeemed": "0.00",
                    "outstanding": "20000.00", "in_reserves": "19720.00",
                    "in_wallets": "280.00"}
