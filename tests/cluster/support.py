"""Load and ledger checks for the fault tests: real nodes, real etcd, real HTTP.

``Load`` submits signed notary txs (they need no set-up) round-robin to every node with
``wait_ms`` and records each tx that got a committed answer, with the leaf index the answering
node gave it, plus a few verified receipts. ``converge`` waits until every node has executed
everything and reports the same head; ``assert_ledgers_agree`` then checks that nothing with a
committed answer was lost, nothing executed twice, and every node holds the same tree.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

import httpx

from consortia.cluster.local import LocalCluster
from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import verify_receipt
from consortia.sdk.client import build_tx, encode_batch

MSGPACK = {"content-type": "application/msgpack"}
LOAD_WAIT_MS = 15_000  # per batch; a batch caught by a fault may take a failover to commit
RECEIPT_EVERY_BATCHES = 5
CONVERGE_S_MAX = 60.0
SAMPLE_TXS_PER_NODE = 60  # committed txs looked up one by one on every node


class Load:
    """Threads that each sign batches of notary txs and post them to the nodes in turn."""

    def __init__(self, cluster: LocalCluster, *, workers: int = 3, batch_txs: int = 40,
                 seed: str = "load") -> None:
        self.urls = cluster.urls
        self.node_keys = {n.url: bytes.fromhex(n.node_key) for n in cluster.nodes}
        self.chain_id = cluster.chain_id
        self.workers = workers
        self.batch_txs = batch_txs
        self.seed = seed
        # tx id -> (url of the node that answered "committed", leaf index it gave)
        self.committed: dict[str, tuple[str, int]] = {}
        self.receipts: list[dict[str, Any]] = []
        self.failed_batches = 0  # no committed answer: a node or etcd was down, or slow
        self.rejected: list[dict[str, Any]] = []  # committed with a result other than accepted
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._run, args=(w,), daemon=True,
                                          name=f"load-{w}") for w in range(self.workers)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(LOAD_WAIT_MS / 1000 + 15)
        assert not any(t.is_alive() for t in self._threads), "a load thread hung"

    def count(self) -> int:
        with self._lock:
            return len(self.committed)

    def wait_for(self, total: int, timeout_s: float) -> None:
        """Wait until at least ``total`` txs got a committed answer."""
        deadline = time.monotonic() + timeout_s
        while self.count() < total:
            assert time.monotonic() < deadline, (
                f"only {self.count()} of {total} txs committed within {timeout_s} s "
                f"({self.failed_batches} batches failed)")
            time.sleep(0.05)

    def _run(self, worker: int) -> None:
        key = SigningKey(hashlib.sha256(f"{self.seed}/{worker}".encode()).digest())
        sent = 0
        with httpx.Client(timeout=LOAD_WAIT_MS / 1000 + 10) as http:
            while not self._stop.is_set():
                url = self.urls[(worker + sent) % len(self.urls)]
                sent += 1
                txs = [build_tx(key, self.chain_id, "notary.attest",
                                {"digest": os.urandom(32).hex(), "label": "fault test"})
                       for _ in range(self.batch_txs)]
                try:
                    response = http.post(url + "/v1/txs", content=encode_batch(txs),
                                         params={"wait_ms": LOAD_WAIT_MS}, headers=MSGPACK)
                    if response.status_code != 200:
                        raise httpx.HTTPStatusError("refused", request=response.request,
                                                    response=response)
                    statuses = response.json()["txs"]
                except httpx.HTTPError:
                    with self._lock:
                        self.failed_batches += 1
                    time.sleep(0.1)  # a node or etcd is down: do not spin
                    continue
                done = [s for s in statuses if s["status"] == "committed" and "result" in s]
                with self._lock:
                    for s in done:
                        self.committed[s["tx_id"]] = (url, int(s["leaf_index"]))
                        if s["result"]["status"] != "accepted":
                            self.rejected.append(s)
                    if len(done) < len(statuses):
                        self.failed_batches += 1
                if done and sent % RECEIPT_EVERY_BATCHES == 0:
                    self._keep_receipt(http, url, done[0]["tx_id"])

    def _keep_receipt(self, http: httpx.Client, url: str, tx_id: str) -> None:
        try:
            receipt = http.get(f"{url}/v1/tx/{tx_id}/receipt").json()
        except httpx.HTTPError:
            return  # the node went down between the answer and this read
        verify_receipt(receipt, self.node_keys[url])  # raises: the test fails loudly
        with self._lock:
            self.receipts.append(receipt)


def heads(urls: list[str]) -> list[dict[str, Any] | None]:
    """Each node's /healthz body (None if it does not answer)."""
    out: list[dict[str, Any] | None] = []
    with httpx.Client(timeout=3) as http:
        for url in urls:
            try:
                out.append(http.get(url + "/healthz").json())
            except (httpx.HTTPError, ValueError):
                out.append(None)
    return out


def converge(cluster: LocalCluster, timeout_s: float = CONVERGE_S_MAX) -> dict[str, Any]:
    """Wait until every node answers, has an empty mempool, and all report the same height
    and tree size twice in a row; returns that head (height, tree_size)."""
    deadline = time.monotonic() + timeout_s
    previous: tuple[int, int] | None = None
    last: list[dict[str, Any] | None] = []
    while time.monotonic() < deadline:
        last = heads(cluster.urls)
        if all(h is not None and h["mempool_txs"] == 0 for h in last):
            seen = {(h["height"], h["tree_size"]) for h in last if h is not None}
            if len(seen) == 1:
                (current,) = seen
                if current == previous:
                    return {"height": current[0], "tree_size": current[1]}
                previous = current
                time.sleep(0.3)
                continue
        previous = None
        time.sleep(0.2)
    raise AssertionError(f"nodes did not converge within {timeout_s} s: {last}")


def ledger_tx_ids(url: str) -> list[str]:
    """Every executed tx id of a node, in leaf order (from its blocks)."""
    blocks: list[tuple[int, int]] = []
    with httpx.Client(base_url=url, timeout=10) as http:
        before: int | None = None
        while True:
            page = http.get("/v1/blocks", params={"limit": 200, **(
                {"before": before} if before is not None else {})}).json()
            blocks += [(b["height"], b["tx_count"]) for b in page["blocks"]]
            before = page["next_before"]
            if before is None:
                break
        ids: list[str] = []
        for height, tx_count in sorted(blocks):
            if height == 0 or tx_count == 0:
                continue
            offset = 0
            while offset < tx_count:
                part = http.get(f"/v1/blocks/{height}", params={"offset": offset}).json()
                ids += part["tx_ids"]
                offset += len(part["tx_ids"])
                assert part["tx_ids"], f"block {height} lists fewer txs than its count"
    return ids


def assert_ledgers_agree(cluster: LocalCluster, load: Load | None = None) -> dict[str, Any]:
    """Every node at the same head with the same root; with ``load``: every tx that got a
    committed answer is in the ledger once, at the leaf index it was given, on every node,
    and every kept receipt still verifies against every node's key and ledger."""
    head = converge(cluster)
    with httpx.Client(timeout=10) as http:
        sths = [http.get(f"{url}/v1/sth/{head['height']}").json() for url in cluster.urls]
        roots = {(s["tree_size"], s["root_hash"]) for s in sths}
        assert len(roots) == 1, f"nodes disagree at height {head['height']}: {sths}"
        for sth, node in zip(sths, cluster.nodes, strict=True):
            assert sth["node_key"] == node.node_key  # each node signs its own head
        if load is None:
            return head
        ids = ledger_tx_ids(cluster.urls[0])
        assert len(ids) == head["tree_size"], (len(ids), head)
        assert len(set(ids)) == len(ids), "a tx id was executed twice"
        leaf_of = {tx_id: i for i, tx_id in enumerate(ids)}
        lost = [t for t in load.committed if t not in leaf_of]
        assert not lost, f"{len(lost)} txs with a committed answer are missing: {lost[:3]}"
        moved = [(t, leaf, leaf_of[t]) for t, (_, leaf) in load.committed.items()
                 if leaf_of[t] != leaf]
        assert not moved, f"txs answered at one leaf index sit at another: {moved[:3]}"
        assert not load.rejected, load.rejected[:3]
        # The same root on every node means the same leaves; still, ask every node directly.
        sample = list(load.committed)[:: max(1, len(load.committed) // SAMPLE_TXS_PER_NODE)]
        for url in cluster.urls:
            for tx_id in sample:
                status = http.get(f"{url}/v1/tx/{tx_id}").json()
                assert status["status"] == "committed", (url, status)
                assert status["leaf_index"] == leaf_of[tx_id], (url, status)
            for receipt in load.receipts[:20]:
                fresh = http.get(f"{url}/v1/tx/{receipt['tx_id']}/receipt").json()
                node_key = next(n.node_key for n in cluster.nodes if n.url == url)
                verify_receipt(fresh, bytes.fromhex(node_key))
                assert (fresh["leaf"], fresh["leaf_index"]) == (receipt["leaf"],
                                                                receipt["leaf_index"])
    return head
