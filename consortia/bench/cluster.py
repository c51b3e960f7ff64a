"""``consortia bench --cluster D``: committed tx/s and commit latency of a local consortium,
and of one embedded node measured the same way in the same run.

The cluster is the one ``consortia cluster up --dir D`` started (read from D/cluster.json).
A workload (``consortia.bench.workload``: notary or transfers) is set up by real txs through
the first node, with the founding members' keys in ``D/keys``; its txs are pre-signed (not
timed). The timed part is closed-loop: ``clients`` connections each post a batch to the
nodes in turn (batch i to node i mod N) with ``wait_ms`` and post the next when it is
answered. Every node's event stream stamps when each tx was executed there; a tx counts as
committed when the LAST node has executed it, so the rate is txs / (the moment the last node
reached the final tree size − start), and latency is that moment − the batch's post.

Then the same workload, by the same code, against an embedded node (solo ordering, a
throw-away directory, ``consortia.bench.throughput.LocalNode``) started in the same run,
while the cluster idles. In a cluster every node verifies and executes every tx, so on one
machine the cluster's rate is bounded by the embedded one divided by the node count.

Checks, each a sentence in ``checks_failed`` when it fails: no tx rejected, a sample of
receipts verifies against each node's own key at the same leaf on every node, every node
signs the same root at the final height, and the workload's own ledger check on every node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from consortia.bench.throughput import (
    COMMIT_TIMEOUT_S,
    CommitWatcher,
    LocalNode,
    percentile,
    verify_ceiling,
)
from consortia.bench.workload import Workload
from consortia.cluster.local import ClusterError, LocalCluster
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.ledger.tx import Envelope
from consortia.sdk.client import encode_batch

WAIT_MS = 30_000  # per batch; the node's wait_ms_max caps it
RECEIPT_SAMPLE = 100
MEMPOOL_FULL_BACKOFF_S = 0.05
SETTLE_S_MAX = 120.0  # after set-up, until every node holds what node 1 holds


def _same_head(urls: list[str], timeout_s: float = SETTLE_S_MAX) -> dict[str, Any]:
    """Wait until every node reports the same height and root; that head."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=10) as http:
        while True:
            sths = [http.get(url + "/v1/sth").json() for url in urls]
            if len({(s["height"], s["root_hash"]) for s in sths}) == 1:
                return dict(sths[0])
            if time.monotonic() > deadline:
                raise RuntimeError("nodes did not reach the same head: " + ", ".join(
                    f"{u} at {s['height']}" for u, s in zip(urls, sths, strict=True)))
            time.sleep(0.2)


def measure(urls: list[str], workload: Workload, keys_dir: Path, *, txs: int, batch: int,
            clients: int, cpu_count: int, progress: bool, label: str) -> dict[str, Any]:
    """Set ``workload`` up through ``urls[0]``, then commit ``txs`` of its txs over all
    ``urls`` (closed loop, round-robin) and report rate, latency and checks."""
    setup = workload.setup(urls[0], keys_dir, progress)
    _same_head(urls)
    with httpx.Client(timeout=10) as http:
        infos = [http.get(url + "/v1/chain").json() for url in urls]
    chain_id = str(infos[0]["chain_id"])
    raws = workload.presign(chain_id, txs, cpu_count)
    ids = [Envelope.from_msgpack(r).tx_id.hex() for r in raws]
    batches = [raws[i:i + batch] for i in range(0, len(raws), batch)]
    batch_ids = [ids[i:i + batch] for i in range(0, len(ids), batch)]
    watchers = [CommitWatcher(url, set(ids)) for url in urls]
    for w in watchers:
        w.start()
    for w in watchers:
        if not w.connected.wait(10):
            raise RuntimeError(f"no event stream from {w.url}")
    submitted_at = [0.0] * len(batches)
    next_batch = iter(range(len(batches)))
    lock = threading.Lock()
    retries = 0

    def client_loop() -> None:
        nonlocal retries
        with httpx.Client(timeout=WAIT_MS / 1000 + 30) as http:
            while True:
                with lock:
                    index = next(next_batch, None)
                if index is None:
                    return
                url = urls[index % len(urls)]
                body = encode_batch(batches[index])
                submitted_at[index] = time.perf_counter()
                while True:
                    r = http.post(url + "/v1/txs", content=body, params={"wait_ms": WAIT_MS},
                                  headers={"content-type": "application/msgpack"})
                    if r.status_code != 503:
                        break
                    with lock:
                        retries += 1
                    time.sleep(MEMPOOL_FULL_BACKOFF_S)
                if r.status_code >= 400:
                    raise RuntimeError(f"{url} refused a batch: {r.status_code} {r.text[:300]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client_loop) for _ in range(clients)]
        if progress:
            _show_progress(label, watchers, txs, started)
        for f in futures:
            f.result()
    for w in watchers:
        w.done.wait(max(0.0, COMMIT_TIMEOUT_S - (time.perf_counter() - started)))
    short = [f"{w.url}: {len(w.committed)}" for w in watchers if len(w.committed) < txs]
    if short:
        raise RuntimeError(f"not all {txs} txs were executed on every node ({', '.join(short)})")
    committed_at = {tx_id: max(w.committed[tx_id] for w in watchers) for tx_id in ids}
    finished = max(committed_at.values())
    latencies_ms = [(committed_at[tx_id] - submitted_at[b]) * 1000
                    for b, chunk in enumerate(batch_ids) for tx_id in chunk]
    # How far apart the nodes execute the same tx: the cost of waiting for the last one.
    spreads_ms = [(committed_at[tx_id] - min(w.committed[tx_id] for w in watchers)) * 1000
                  for tx_id in ids]
    failed: list[str] = []
    rejected = max(w.rejected for w in watchers)
    if rejected:
        failed.append(f"{rejected} txs were rejected")
    sample = ids[:: max(1, txs // RECEIPT_SAMPLE)]
    failed += _check_receipts(urls, [str(i["node_key"]) for i in infos], sample)
    head = _same_head(urls)
    checked: dict[str, Any] = {}
    for url in urls:
        checked = workload.check(url)
        failed += [f"{url}: {f}" for f in checked.pop("checks_failed")]
    rate = txs / (finished - started)
    return {
        "nodes": len(urls),
        **setup,
        "seconds": round(finished - started, 3),
        "committed_tx_per_s": round(rate, 1),
        "latency_p50_ms": round(percentile(latencies_ms, 0.50), 1),
        "latency_p99_ms": round(percentile(latencies_ms, 0.99), 1),
        "first_to_last_node_p50_ms": round(percentile(spreads_ms, 0.50), 1),
        "first_to_last_node_p99_ms": round(percentile(spreads_ms, 0.99), 1),
        "final_height": head["height"],
        "final_tree_size": head["tree_size"],
        "receipts_verified": len(sample) * len(urls),
        "mempool_full_retries": retries,
        **checked,
        "checks_failed": failed,
    }


def _show_progress(label: str, watchers: list[CommitWatcher], txs: int, started: float) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn(f"{label}: committed"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}")) as bar:
        task = bar.add_task("txs", total=txs, rate="")
        while not all(w.done.wait(0.2) for w in watchers):
            n = min(len(w.committed) for w in watchers)
            elapsed = time.perf_counter() - started
            bar.update(task, completed=n, rate=f"{n / elapsed:,.0f} tx/s")
            if elapsed > COMMIT_TIMEOUT_S:
                break
        bar.update(task, completed=min(len(w.committed) for w in watchers))


def _check_receipts(urls: list[str], node_keys: list[str], sample: list[str]) -> list[str]:
    """The receipts of ``sample`` from every node: valid under that node's key, same leaf."""
    failed: list[str] = []
    with httpx.Client(timeout=30) as http:
        for tx_id in sample:
            leaves = set()
            for url, key in zip(urls, node_keys, strict=True):
                receipt = http.get(f"{url}/v1/tx/{tx_id}/receipt").json()
                try:
                    verify_receipt(receipt, bytes.fromhex(key))
                except (ReceiptError, ValueError, KeyError) as exc:
                    failed.append(f"{url}: receipt of {tx_id} does not verify: {exc}")
                    continue
                leaves.add((receipt["leaf_index"], receipt["leaf"]))
            if len(leaves) > 1:
                failed.append(f"tx {tx_id} sits at different leaves on different nodes")
    return failed


def run_cluster_bench(directory: Path, make_workload: Callable[[], Workload], *, txs: int,
                      batch: int, clients: int, cpu_count: int, progress: bool,
                      embedded: bool = True) -> dict[str, Any]:
    """The cluster in ``directory``, then (with ``embedded``) one embedded node, both with a
    fresh ``make_workload()``; the two reports, their ratio and the Ed25519 ceiling."""
    cluster = LocalCluster.open(directory)
    status = cluster.status()
    if not status["all_up"]:
        down = [n["id"] for n in status["nodes"] if not n["up"]]
        raise ClusterError(f"nodes of {directory} are not answering: {', '.join(down)}")
    ceiling = verify_ceiling(cpu_count)
    workload = make_workload()
    report: dict[str, Any] = {"workload": workload.name, "txs": txs, "batch": batch,
                              "clients": clients, "cores": cpu_count,
                              "verify_ceiling_per_s": round(ceiling, 1)}
    report["cluster"] = measure(cluster.urls, workload, directory / "keys", txs=txs,
                                batch=batch, clients=clients, cpu_count=cpu_count,
                                progress=progress, label=f"cluster of {len(cluster.urls)}")
    failed = [f"cluster: {f}" for f in report["cluster"]["checks_failed"]]
    if embedded:
        node = LocalNode()
        try:
            report["embedded"] = measure([node.url], make_workload(), node.dir / "keys",
                                         txs=txs, batch=batch, clients=clients,
                                         cpu_count=cpu_count, progress=progress,
                                         label="embedded node")
        finally:
            node.close()
        failed += [f"embedded: {f}" for f in report["embedded"]["checks_failed"]]
        report["cluster_to_embedded"] = round(report["cluster"]["committed_tx_per_s"]
                                              / report["embedded"]["committed_tx_per_s"], 3)
    report["checks_failed"] = failed
    return report


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    parts = [p for p in ("cluster", "embedded") if p in report]
    table = Table(title=f"consortia bench --cluster ({report['workload']}, {report['txs']:,} "
                        f"txs, batches of {report['batch']:,}, {report['clients']} clients, "
                        f"{report['cores']} cores)")
    table.add_column("measure")
    for part in parts:
        table.add_column(f"{part} ({report[part]['nodes']} node"
                         f"{'s' if report[part]['nodes'] > 1 else ''})", justify="right")
    names = [n for n in report[parts[0]] if n != "checks_failed"]
    for name in names:
        table.add_row(name, *(_shown(report[p].get(name)) for p in parts))
    table.add_row("checks failed", *(_shown(report[p]["checks_failed"]) for p in parts))
    console = Console()
    console.print(table)
    console.print(f"Ed25519 verifications/s on all cores: {report['verify_ceiling_per_s']:,}")
    if "cluster_to_embedded" in report:
        console.print(f"cluster / embedded committed tx/s: {report['cluster_to_embedded']}")


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,}"
    if isinstance(value, list):
        return "; ".join(map(str, value)) or "none"
    return str(value)
