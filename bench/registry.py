"""Run the registry benchmark: ``python bench/registry.py [--certificates 100000] [--json]``.

The same as ``consortia bench --workload registry``: N certificates created by real signed txs
(apply, accept, assign a lab, test report, on-site check, issue; some suspended, revoked,
cancelled, renewed), then a mix of registry queries over HTTP with p50/p95/p99/max latency per
kind (target: p99 under 50 ms at 100,000 certificates) and the query rate.
"""

import sys

from consortia.cli.main import app

if __name__ == "__main__":
    app(["bench", "--workload", "registry", *sys.argv[1:]])
