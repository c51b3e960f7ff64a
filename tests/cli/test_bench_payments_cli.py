"""``consortia bench --workload payments`` end to end on a small scale, and its plan."""

from __future__ import annotations

import json

import pytest

from consortia.bench.payments import plan
from consortia.bench.transfers import AMOUNT_MINOR_MAX, AMOUNT_MINOR_MIN, FUND_MINOR
from tests.cli.support import consortia


def test_the_plan_spreads_payments_over_merchants_and_payers_within_their_funds() -> None:
    planned = plan(payments=1_000, wallets=30, merchants=7)
    assert [p.seq for p in planned] == list(range(1_000))
    assert {p.merchant for p in planned} == set(range(7))
    spent = [0] * 30
    for p in planned:
        assert AMOUNT_MINOR_MIN <= p.amount_minor <= AMOUNT_MINOR_MAX
        spent[p.payer] += p.amount_minor
    assert max(spent) <= FUND_MINOR
    assert plan(1_000, 30, 7) == planned  # seeded: the same orders on every run


def test_the_plan_refuses_more_payments_than_the_wallets_can_fund() -> None:
    with pytest.raises(ValueError, match="wallets or more"):
        plan(payments=10_000, wallets=10, merchants=3)


def test_bench_payments_pays_every_order_once_and_reports_latency() -> None:
    done = consortia("bench", "--workload", "payments", "--rate", "50", "--seconds", "2",
                     "--wallets", "20", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["workload"] == "payments" and report["offered_per_s"] == 50
    assert report["payments"] == report["orders"] == 100
    assert report["accepted"] == report["receipts_verified"] == 100
    assert report["rejected"] == report["failed"] == 0
    assert report["orders_paid_once"] is True and report["merchant_balances_ok"] is True
    assert report["supply_unchanged"] is True and report["checks_failed"] == []
    for measure in ("scan_to_receipt", "commit", "receipt_verify", "client_lag"):
        p50, p95, p99, most = (report[f"{measure}_{q}_ms"] for q in ("p50", "p95", "p99", "max"))
        assert 0 <= p50 <= p95 <= p99 <= most, measure
    # A receipt is verified after its commit, which comes after the scan.
    assert report["scan_to_receipt_p50_ms"] >= report["commit_p50_ms"] > 0
    assert report["achieved_per_s"] > 0 and report["target_p99_ms"] == 1_000.0
