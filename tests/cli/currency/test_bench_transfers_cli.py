"""``consortia bench --workload transfers`` end to end on a small scale, and its plan."""

from __future__ import annotations

import json

from consortia.bench.transfers import (
    AMOUNT_MINOR_MAX,
    FUND_MINOR,
    expected_balances,
    plan,
)
from tests.cli.support import assert_fails_with_one_line, consortia


def test_the_plan_never_spends_more_than_a_wallet_was_funded_with() -> None:
    planned = plan(wallets=20, txs=1_200)
    spent = [0] * 20
    for _, src, dst, amount in planned:
        assert src != dst and 0 < amount <= AMOUNT_MINOR_MAX
        spent[src] += amount
    assert max(spent) <= FUND_MINOR
    assert sum(expected_balances(20, planned)) == 20 * FUND_MINOR


def test_bench_transfers_commits_every_transfer_and_checks_the_ledger() -> None:
    done = consortia("bench", "--workload", "transfers", "--wallets", "40", "-n", "600",
                     "--batch", "100", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["workload"] == "transfers" and report["wallets"] == 40
    assert report["rejected"] == 0 and report["receipts_rejected"] == 0
    assert report["supply_unchanged"] is True
    assert report["balances_checked"] == 40 and report["balance_mismatches"] == 0
    assert report["balances_sum"] == report["supply_in_wallets"] == "40000.00"
    assert report["checks_failed"] == []
    assert report["committed_tx_per_s"] > 0 and report["ratio"] > 0


def test_bench_with_an_unknown_workload_fails_in_one_line() -> None:
    assert_fails_with_one_line(consortia("bench", "--workload", "lottery", "-n", "1"),
                               "unknown workload")
