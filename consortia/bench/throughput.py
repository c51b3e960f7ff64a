"""Committed tx/s and commit latency of a node over HTTP, and the Ed25519 ceiling.

A workload (``consortia.bench.workload``) sets the node up and pre-signs N txs: ``notary``
(document digests) or ``transfers`` (payments between many wallets). The machinery here submits
them as msgpack batches over several connections, learns when each is committed from the
node's event stream, verifies a sample of receipts offline, lets the workload check the ledger,
and in the same run measures raw libsodium Ed25519 verification on every core: each tx must be
verified once, so that rate bounds what any node on this machine can commit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from consortia.bench.workload import NotaryWorkload, Workload
from consortia.cluster.ports import free_ports
from consortia.crypto.keys import SigningKey, verify
from consortia.ledger.receipts import verify_receipt
from consortia.ledger.tx import Envelope
from consortia.sdk.client import encode_batch

RECEIPT_SAMPLE = 200
COMMIT_TIMEOUT_S = 300.0


def _verify_for(seconds: float) -> int:
    """Verify one signature over and over for ``seconds``; the count (runs in a process)."""
    key = SigningKey.generate()
    message = os.urandom(200)
    signature = key.sign(message)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            verify(key.public_key, message, signature)
        count += 200
    return count


def verify_ceiling(cpu_count: int, seconds: float = 2.0) -> float:
    """Ed25519 verifications per second on all cores, one process per core."""
    with ProcessPoolExecutor(cpu_count) as pool:
        counts = list(pool.map(_verify_for, [seconds] * cpu_count))
    return sum(counts) / seconds


class LocalNode:
    """A node in a subprocess with a throw-away data directory."""

    def __init__(self) -> None:
        from consortia.demo.consortium import demo_genesis

        self.dir = Path(tempfile.mkdtemp(prefix="consortia-bench-"))
        demo_genesis(self.dir)
        self.port = free_ports(1)[0]
        (self.dir / "node.toml").write_text(
            f'data_dir = "."\nport = {self.port}\nmempool_txs_max = 400000\n')
        self.url = f"http://127.0.0.1:{self.port}"
        self._start()

    def _start(self, start_s_max: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "consortia", "node", "start", "--config",
             str(self.dir / "node.toml")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + start_s_max
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError("bench node did not start")

    def _stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self, start_s_max: float = 300.0) -> None:
        """Stop the node and start it again on the same data: it loads what was built, as a
        node does after any restart (a large state takes a while to load)."""
        self._stop()
        self._start(start_s_max)

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class CommitWatcher(threading.Thread):
    """Follows /v1/events and stamps the time each tx id was seen committed."""

    def __init__(self, url: str, expected: set[str]) -> None:
        super().__init__(daemon=True, name="commit-watcher")
        self.url = url
        self.expected = expected
        self.committed: dict[str, float] = {}
        self.rejected = 0
        self.connected = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=None) as client, client.stream(
                "GET", self.url + "/v1/events") as response:
            for line in response.iter_lines():
                if line.startswith(":"):
                    self.connected.set()
                    continue
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                now = time.perf_counter()
                self.rejected += event.get("rejected", 0)
                for tx_id in event.get("tx_ids", ()):
                    if tx_id in self.expected:
                        self.committed[tx_id] = now
                if len(self.committed) >= len(self.expected):
                    self.done.set()
                    return


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_bench(*, url: str | None, txs: int, batch: int, clients: int, progress: bool,
              cpu_count: int, workload: Workload | None = None,
              keys_dir: Path | None = None) -> dict[str, Any]:
    """Run ``workload`` (default: notary) against ``url`` or a fresh local node.

    ``keys_dir`` holds the member key files a workload's set-up signs with (default: the
    local node's, or ``data/demo/keys`` with ``url``).
    """
    workload = workload or NotaryWorkload()
    ceiling = verify_ceiling(cpu_count)
    node = LocalNode() if url is None else None
    base = url or (node.url if node else "")
    try:
        chain = httpx.get(base + "/v1/chain", timeout=10).json()
        keys = keys_dir or (node.dir / "keys" if node else Path("data/demo/keys"))
        setup = workload.setup(base, keys, progress)
        raws = workload.presign(chain["chain_id"], txs, cpu_count)
        ids = [Envelope.from_msgpack(r).tx_id.hex() for r in raws]
        batches = [raws[i:i + batch] for i in range(0, len(raws), batch)]
        batch_ids = [ids[i:i + batch] for i in range(0, len(ids), batch)]
        watcher = CommitWatcher(base, set(ids))
        watcher.start()
        watcher.connected.wait(10)
        submitted_at: list[float] = [0.0] * len(batches)
        retries = 0

        def submit(index: int) -> None:
            nonlocal retries
            body = encode_batch(batches[index])
            with httpx.Client(base_url=base, timeout=60) as http:
                while True:
                    submitted_at[index] = time.perf_counter()
                    r = http.post("/v1/txs", content=body,
                                  headers={"content-type": "application/msgpack"})
                    if r.status_code == 503:
                        retries += 1
                        time.sleep(0.05)
                        continue
                    if r.status_code >= 400:
                        raise RuntimeError(f"node refused a batch: {r.status_code} {r.text[:300]}")
                    return

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(submit, i) for i in range(len(batches))]
            if progress:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                with Progress(TextColumn("committing"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[rate]}")) as bar:
                    task = bar.add_task("txs", total=txs, rate="")
                    while not watcher.done.wait(0.2):
                        n = len(watcher.committed)
                        elapsed = time.perf_counter() - started
                        bar.update(task, completed=n, rate=f"{n / elapsed:,.0f} tx/s")
                        if elapsed > COMMIT_TIMEOUT_S:
                            break
                    bar.update(task, completed=len(watcher.committed))
            for f in futures:
                f.result()
        watcher.done.wait(COMMIT_TIMEOUT_S)
        if len(watcher.committed) < txs:
            raise RuntimeError(f"only {len(watcher.committed)} of {txs} txs committed")
        finished = max(watcher.committed.values())
        latencies_ms = [
            (watcher.committed[tx_id] - submitted_at[b]) * 1000
            for b, chunk in enumerate(batch_ids) for tx_id in chunk
        ]
        receipts_rejected = 0
        with httpx.Client(base_url=base, timeout=30) as http:
            node_key = bytes.fromhex(http.get("/v1/chain").json()["node_key"])
            step = max(1, txs // RECEIPT_SAMPLE)
            for tx_id in ids[::step]:
                receipt = http.get(f"/v1/tx/{tx_id}/receipt").json()
                verify_receipt(receipt, node_key)
                receipts_rejected += receipt["result"]["status"] != "accepted"
        checked = workload.check(base)
        if watcher.rejected:
            checked["checks_failed"].insert(0, f"{watcher.rejected} txs were rejected")
        rate = txs / (finished - started)
        return {
            "workload": workload.name,
            **setup,
            "txs": txs,
            "batch": batch,
            "clients": clients,
            "cores": cpu_count,
            "seconds": round(finished - started, 3),
            "committed_tx_per_s": round(rate, 1),
            "latency_p50_ms": round(percentile(latencies_ms, 0.50), 1),
            "latency_p99_ms": round(percentile(latencies_ms, 0.99), 1),
            "verify_ceiling_per_s": round(ceiling, 1),
            "ratio": round(rate / ceiling, 3),
            "rejected": watcher.rejected,
            "receipts_verified": len(ids[::step]),
            "receipts_rejected": receipts_rejected,
            "mempool_full_retries": retries,
            **checked,
        }
    finally:
        if node is not None:
            node.close()


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"consortia bench ({report['workload']} over HTTP)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in report.items():
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, int | float):
            shown = f"{value:,}"
        elif isinstance(value, list):
            shown = "; ".join(map(str, value)) or "none"
        else:
            shown = str(value)
        table.add_row(name, shown)
    Console().print(table)
