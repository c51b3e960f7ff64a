"""An acknowledged commit survives kill -9 of the node, under load."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from consortia.crypto.keys import SigningKey
from consortia.crypto.merkle import verify_consistency
from consortia.demo.consortium import demo_genesis
from consortia.ledger.receipts import verify_receipt
from consortia.sdk.client import build_tx, encode_batch
from tests.conftest import free_port

LOAD_SECONDS = 2.5
BATCH_TXS = 200


def start(config: Path, url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "consortia", "node", "start", "--config",
                             str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"node did not start: {proc.stderr.read() if proc.stderr else ''}")


def test_kill_9_under_load_loses_no_tx_that_had_a_receipt(tmp_path: Path) -> None:
    data = tmp_path / "node"
    genesis = demo_genesis(data)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = data / "node.toml"
    config.write_text(f'data_dir = "."\nport = {port}\nbatch_txs_max = 300\n')
    proc = start(config, url)
    node_key = bytes.fromhex(httpx.get(url + "/v1/chain").json()["node_key"])

    committed: set[str] = set()
    receipts: list[dict[str, object]] = []
    heads: list[dict[str, object]] = []
    stop = threading.Event()

    def watch() -> None:
        try:
            with httpx.Client(timeout=None) as c, c.stream("GET", url + "/v1/events") as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        committed.update(json.loads(line[6:])["tx_ids"])
        except httpx.HTTPError:
            pass  # the node was killed

    def submit(worker: int) -> None:
        key = SigningKey(hashlib.sha256(b"load %d" % worker).digest())
        n = 0
        with httpx.Client(base_url=url, timeout=5) as c:
            while not stop.is_set():
                txs = []
                for _ in range(BATCH_TXS):
                    n += 1
                    digest = hashlib.sha256(b"%d/%d" % (worker, n)).hexdigest()
                    txs.append(build_tx(key, genesis.chain_id, "notary.attest",
                                        {"digest": digest}))
                try:
                    c.post("/v1/txs", content=encode_batch(txs),
                           headers={"content-type": "application/msgpack"})
                except httpx.HTTPError:
                    return

    def collect_receipts() -> None:
        with httpx.Client(base_url=url, timeout=5) as c:
            while not stop.is_set():
                try:
                    for tx_id in list(committed)[:20]:
                        receipts.append(c.get(f"/v1/tx/{tx_id}/receipt").json())
                    heads.append(c.get("/v1/sth").json())
                except httpx.HTTPError:
                    return
                time.sleep(0.05)

    threads = [threading.Thread(target=watch, daemon=True)]
    threads += [threading.Thread(target=submit, args=(w,), daemon=True) for w in range(3)]
    threads += [threading.Thread(target=collect_receipts, daemon=True)]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(committed) > 500, "the load did not get going"
    assert receipts and heads

    proc = start(config, url)
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            sth = c.get("/v1/sth").json()
            stored: set[str] = set()
            for height in range(1, int(sth["height"]) + 1):
                stored.update(c.get(f"/v1/blocks/{height}").json()["tx_ids"])
            missing = committed - stored
            assert not missing, f"{len(missing)} committed txs lost, e.g. {sorted(missing)[:3]}"
            for receipt in receipts:
                verify_receipt(receipt, node_key)  # still a valid proof after the crash
                fresh = c.get(f"/v1/tx/{receipt['tx_id']}/receipt").json()
                verify_receipt(fresh, node_key)
                assert fresh["leaf"] == receipt["leaf"]
                assert fresh["leaf_index"] == receipt["leaf_index"]
            # History was only appended to: every tree head seen before the crash is a
            # prefix of the tree after it.
            for head in heads[:: max(1, len(heads) // 10)]:
                first, second = int(str(head["tree_size"])), int(sth["tree_size"])
                proof = c.get("/v1/proof/consistency",
                              params={"first": first, "second": second}).json()["proof"]
                assert verify_consistency(first, second, bytes.fromhex(str(head["root_hash"])),
                                          bytes.fromhex(sth["root_hash"]),
                                          [bytes.fromhex(p) for p in proof])
            # The restarted node takes new work.
            key = SigningKey(bytes(32))
            stx = build_tx(key, genesis.chain_id, "notary.attest", {"digest": "cd" * 32})
            from consortia.ledger.tx import encode_signed

            after = c.post("/v1/tx", content=encode_signed(stx), params={"wait_ms": 10_000},
                           headers={"content-type": "application/msgpack"}).json()
            assert after["status"] == "committed"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    # The state equals a replay of the stored blocks.
    audit = subprocess.run([sys.executable, "-m", "consortia", "node", "verify", "--data-dir",
                            str(data)], capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stderr
    assert audit.stdout.startswith("ok:")
