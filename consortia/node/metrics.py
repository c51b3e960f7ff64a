"""Prometheus metrics of one node (a registry per node, so tests can run several)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# Plain counters an orderer may keep (consortia/node/etcd_orderer.py), exported as
# consortia_orderer_<name>_total: the orderer stays free of metrics code.
ORDERER_COUNTERS = {
    "batches_written": "Batches this node wrote to the orderer",
    "batches_delivered": "Batches delivered in order to this node",
    "batches_skipped": "Ordered entries that were not batches or were seen before",
    "write_retries": "Batch writes retried (idempotent: never executed twice)",
    "failovers": "Switches to another etcd endpoint",
    "catchups": "Catch-ups by paged Range (after a compaction or a reconnect)",
    "window_passes": "Passes of the sliding window (delete and compact)",
}


class OrdererCollector(Collector):
    """Reads the orderer's counters at scrape time."""

    def __init__(self, orderer: Any) -> None:
        self.orderer = orderer

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for name, help_text in ORDERER_COUNTERS.items():
            value = getattr(self.orderer, name, None)
            if isinstance(value, int):
                family = CounterMetricFamily(f"consortia_orderer_{name}", help_text)
                family.add_metric([], value)
                yield family
        floor = getattr(self.orderer, "floor", None)
        if isinstance(floor, int):
            yield GaugeMetricFamily("consortia_orderer_floor",
                                    "etcd revision below which batches may be deleted",
                                    value=floor)


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

    def watch_orderer(self, orderer: Any) -> None:
        """Export ``orderer``'s counters (an orderer without them exports nothing)."""
        self.registry.register(OrdererCollector(orderer))
