"""``consortia currency`` as a real subprocess against a node with the demo economy: reads with
signed requests, the life of a wallet by signed txs, and failures in one line on stderr."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import wallet_key_path
from tests.api.currency.support import Economy, signed_get
from tests.api.support import free_url, sth
from tests.cli.support import assert_fails_with_one_line, consortia, consortia_all

Done = subprocess.CompletedProcess[str]


def _member(economy: Economy, member: str) -> Path:
    return economy.data_dir / "keys" / f"{member}.key"


def _owner(economy: Economy, wallet: str) -> Path:
    return wallet_key_path(economy.data_dir, wallet)


def _ok(done: Done) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def _tx_id(done: Done) -> str:
    out = _ok(done).strip()
    assert len(out) == 64 and int(out, 16) >= 0, out
    return out


@pytest.fixture(scope="module")
def reads(economy: Economy) -> dict[str, Done]:
    """The read commands, run side by side once for the module."""
    url = ("--url", economy.url)
    return consortia_all({
        "currencies": ("currency", "currencies", *url),
        "tiers": ("currency", "tiers", "CNY", *url),
        "supply": ("currency", "supply", "HKD", *url),
        "wallet": ("currency", "wallet", "alice", "--key", _owner(economy, "alice"), *url),
        "wallet_by_other_bank": ("currency", "wallet", "alice", "--key",
                                 _member(economy, "meridian"), *url),
        "statement": ("currency", "statement", "teahouse", "--key",
                      _member(economy, "meridian"), *url),
        "statement_csv": ("currency", "statement", "alice", "--csv", "--key",
                          _member(economy, "fro"), *url),
        "mine": ("currency", "mine", "--key", _owner(economy, "dora"), *url),
    })


def test_currencies_and_tiers_are_listed(reads: dict[str, Done]) -> None:
    listed = _ok(reads["currencies"])
    assert "Digital yuan (e-CNY)" in listed and "Digital Hong Kong dollar" in listed
    assert "lantau-ma" in listed
    tiers = _ok(reads["tiers"])
    assert "anonymous" in tiers and "2000.00" in tiers and "5000000.00" in tiers


def test_supply_prints_decimal_strings(reads: dict[str, Done]) -> None:
    supply = json.loads(_ok(reads["supply"]))
    assert supply["issued"] == "5000000.00" and supply["in_wallets"] == "15000.00"


def test_wallet_signed_by_its_owner_prints_its_balance(reads: dict[str, Done]) -> None:
    wallet = json.loads(_ok(reads["wallet"]))
    assert (wallet["id"], wallet["balance"], wallet["tier"]) == ("alice", "19372.00", "verified")


def test_wallet_signed_by_another_bank_fails_in_one_line(reads: dict[str, Done]) -> None:
    assert_fails_with_one_line(reads["wallet_by_other_bank"], "not_allowed")


def test_statement_shows_entries_with_memos(reads: dict[str, Done]) -> None:
    out = _ok(reads["statement"])
    assert "transfer_in" in out and "Tea and dim sum" in out and "164.50" in out


def test_statement_csv_prints_csv(reads: dict[str, Done]) -> None:
    rows = list(csv.DictReader(io.StringIO(_ok(reads["statement_csv"]))))
    assert [(r["kind"], r["amount"]) for r in rows] == [
        ("distribute", "20000.00"), ("transfer_out", "-128.00"), ("transfer_out", "-500.00")]


def test_mine_lists_the_owners_wallets(reads: dict[str, Done]) -> None:
    out = _ok(reads["mine"])
    assert "dora" in out and "15000.00" in out and "HKD" in out


def test_issue_and_redeem_by_the_issuing_central_bank(economy: Economy,
                                                      http: httpx.Client) -> None:
    before = http.get("/v1/currency/supply/CNY").json()
    url = ("--url", economy.url)
    _tx_id(consortia("currency", "issue", "CNY", "meridian", "1000.50", "--key",
                     _member(economy, "arcadia-cb"), *url))
    _tx_id(consortia("currency", "redeem", "CNY", "meridian", "0.50", "--key",
                     _member(economy, "arcadia-cb"), *url))
    after = http.get("/v1/currency/supply/CNY").json()
    assert after["issued_minor"] == before["issued_minor"] + 100_050
    assert after["redeemed_minor"] == before["redeemed_minor"] + 50
    done = consortia("currency", "issue", "CNY", "meridian", "1", "--key",
                     _member(economy, "lantau-ma"), *url)
    assert_fails_with_one_line(done, "rejected: not_issuer")


def test_a_wallets_life_open_fund_pay_collect_freeze_unfreeze(
        economy: Economy, http: httpx.Client, tmp_path: Path) -> None:
    url = ("--url", economy.url)
    carol_key = tmp_path / "carol.key"
    carol = SigningKey.generate()
    carol.save(carol_key)
    harbor = _member(economy, "harbor")
    _tx_id(consortia("currency", "open-wallet", "carol", "--currency", "CNY", "--owner-key",
                     carol.public_key_hex, "--tier", "anonymous", "--key", harbor, *url))
    _tx_id(consortia("currency", "distribute", "carol", "100", "--key", harbor, *url))
    paid = _tx_id(consortia("currency", "transfer", "carol", "bob", "10.25", "--memo", "taxi",
                            "--key", carol_key, *url))
    _tx_id(consortia("currency", "collect", "carol", "5", "--key", carol_key, *url))
    wallet = signed_get(http, carol, "/v1/currency/wallets/carol").json()
    assert wallet["balance"] == "84.75"
    receipt = http.get(f"/v1/tx/{paid}/receipt").json()
    assert receipt["result"]["status"] == "accepted"

    _tx_id(consortia("currency", "freeze", "carol", "--reason", "court_order", "--key",
                     harbor, *url))
    frozen = consortia("currency", "transfer", "carol", "bob", "1", "--key", carol_key, *url)
    assert_fails_with_one_line(frozen, "rejected: wallet_frozen")
    _tx_id(consortia("currency", "unfreeze", "carol", "--reason", "court_order", "--key",
                     _member(economy, "fro"), *url))
    _tx_id(consortia("currency", "transfer", "carol", "bob", "1", "--key", carol_key, *url))
    assert signed_get(http, carol, "/v1/currency/wallets/carol").json()["balance"] == "83.75"


def test_merchant_wallet_with_a_label(economy: Economy, http: httpx.Client) -> None:
    owner = SigningKey.generate()
    _tx_id(consortia("currency", "open-wallet", "noodle-bar", "--currency", "HKD",
                     "--owner-key", owner.public_key_hex, "--tier", "merchant", "--merchant",
                     "--label", "Noodle Bar", "--key", _member(economy, "harbor"),
                     "--url", economy.url))
    wallet = signed_get(http, owner, "/v1/currency/wallets/noodle-bar").json()
    assert (wallet["holder"], wallet["label"], wallet["tier"]) == (
        "merchant", "Noodle Bar", "merchant")


def test_bad_input_fails_in_one_line_and_sends_nothing(economy: Economy,
                                                       http: httpx.Client) -> None:
    url = ("--url", economy.url)
    alice = _owner(economy, "alice")
    before = sth(http)
    done = consortia_all({
        "decimals": ("currency", "transfer", "alice", "bob", "1.001", "--key", alice, *url),
        "separator": ("currency", "transfer", "alice", "bob", "1,000", "--key", alice, *url),
        "not_owner": ("currency", "transfer", "alice", "bob", "1", "--key",
                      _owner(economy, "bob"), *url),
        "unknown": ("currency", "transfer", "nobody", "bob", "1", "--key", alice, *url),
        "reason": ("currency", "freeze", "alice", "--reason", "because", "--key",
                   _member(economy, "harbor"), *url),
        "issue_decimals": ("currency", "issue", "CNY", "harbor", "1.234", "--key",
                           _member(economy, "arcadia-cb"), *url),
        "unknown_currency": ("currency", "supply", "XXX", *url),
        "no_key_file": ("currency", "wallet", "alice", "--key", "/nonexistent.key", *url),
        "unreachable": ("currency", "currencies", "--url", free_url()),
    })
    assert_fails_with_one_line(done["decimals"], "bad_amount", "more than 2 decimals")
    assert_fails_with_one_line(done["separator"], "bad_amount")
    assert_fails_with_one_line(done["not_owner"], "not_allowed")
    assert_fails_with_one_line(done["unknown"], "unknown_wallet")
    assert_fails_with_one_line(done["reason"], "bad_reason", "court_order")
    assert_fails_with_one_line(done["issue_decimals"], "bad_amount")
    assert_fails_with_one_line(done["unknown_currency"], "unknown_currency")
    assert_fails_with_one_line(done["no_key_file"], "cannot read key file")
    assert_fails_with_one_line(done["unreachable"], "cannot reach")
    assert sth(http) == before


def test_a_transfer_the_ledger_rejects_exits_1_with_its_code(economy: Economy) -> None:
    done = consortia("currency", "transfer", "bob", "alice", "3000", "--key",
                     _owner(economy, "bob"), "--url", economy.url)
    line = assert_fails_with_one_line(done, "rejected: payment_limit")
    assert "(tx " in line
