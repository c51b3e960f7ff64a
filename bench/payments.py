"""Run the payments benchmark: ``python bench/payments.py [--rate 1000] [--seconds 30] [--json]``.

The same as ``consortia bench --workload payments``: a currency, N funded wallets, merchants
onboarded by the payment network and one order per payment, by real signed txs; then orders
paid open-loop at a sustained rate, each measured from the scan of its QR code to its verified
receipt (p50/p95/p99/max; target p99 ≤ 1 s at 1,000 payments/s), with commit latency apart,
and checked (every order paid once, merchants' balances, supply unchanged).
"""

import sys

from consortia.cli.main import app

if __name__ == "__main__":
    app(["bench", "--workload", "payments", *sys.argv[1:]])
