"""Prometheus metrics of one node (a registry per node, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.txs_committed = Counter("consortia_txs_committed", "Executed txs by status",
                                     ["status"], registry=r)
        self.txs_dropped = Counter("consortia_txs_dropped",
                                   "Ordered txs dropped (malformed, bad signature)", registry=r)
        self.submit_refused = Counter("consortia_submit_refused",
                                      "Submissions refused at the API", ["code"], registry=r)
        self.blocks = Counter("consortia_blocks", "Blocks committed", registry=r)
        self.height = Gauge("consortia_height", "Height of the last block", registry=r)
        self.tree_size = Gauge("consortia_tree_size", "Leaves in the Merkle log", registry=r)
        self.mempool_txs = Gauge("consortia_mempool_txs", "Txs waiting to be ordered",
                                 registry=r)
        self.block_seconds = Histogram(
            "consortia_block_seconds", "Time to execute and store one block", registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.block_txs = Histogram(
            "consortia_block_txs", "Txs per block", registry=r,
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
        )
        # Agreement with peers (consortia/node/agreement.py): an operator alerts on
        # consortia_peers_diverged > 0; a diverged ledger needs people, not retries.
        self.peers_diverged = Gauge("consortia_peers_diverged",
                                    "Peers whose tree head differs from ours at the same height",
                                    registry=r)
        self.peer_height = Gauge("consortia_peer_height",
                                 "Height of each peer's latest verified tree head", ["peer"],
                                 registry=r)
        self.agreement_checks = Counter("consortia_agreement_checks",
                                        "Agreement checks of one peer, by result", ["result"],
                                        registry=r)
