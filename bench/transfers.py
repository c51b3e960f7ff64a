"""Run the transfers benchmark: ``python bench/transfers.py [--wallets 10000] [-n 50000] [--json]``.

The same as ``consortia bench --workload transfers``: N wallets opened and funded by real txs,
then N pre-signed wallet-to-wallet transfers committed over HTTP and checked (all accepted,
supply unchanged, every balance as planned).
"""

import sys

from consortia.cli.main import app

if __name__ == "__main__":
    app(["bench", "--workload", "transfers", *sys.argv[1:]])
