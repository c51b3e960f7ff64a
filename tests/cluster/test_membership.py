"""Membership of a running consortium: a node admitted by governance joins, catches up from
etcd, orders txs and agrees; once removed it may no longer order, and the others go on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from consortia.cluster.local import LocalCluster
from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import FOUNDERS, _adopt, member_key
from consortia.sdk.client import Client, build_tx, encode_batch
from tests.cluster.support import MSGPACK, converge
from tests.conftest import free_port

JOIN_S_MAX = 120.0


def _governance(cluster: LocalCluster, action: dict[str, object], note: str) -> None:
    keys = [member_key(cluster.dir, f.id) for f in FOUNDERS]
    with Client(cluster.urls[0]) as client:
        _adopt(client, keys[0], keys[1:], action, note)


def _attest(url: str, chain_id: str, wait_ms: int = 15_000) -> httpx.Response:
    key = SigningKey.generate()
    stx = build_tx(key, chain_id, "notary.attest", {"digest": key.public_key_hex})
    return httpx.post(url + "/v1/txs", content=encode_batch([stx]), headers=MSGPACK,
                      params={"wait_ms": wait_ms}, timeout=wait_ms / 1000 + 10)


def _sth(url: str, height: int) -> dict[str, object]:
    response = httpx.get(f"{url}/v1/sth/{height}", timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_node_admitted_by_governance_joins_orders_and_agrees_then_is_removed(
        cluster: LocalCluster, tmp_path: Path) -> None:
    # The new institution's node: its own key, data directory and port; the consortium's
    # genesis and etcd.
    node_dir = tmp_path / "node4"
    key = SigningKey.load_or_create(node_dir / "node.key")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = node_dir / "node.toml"
    endpoints = ", ".join(f'"{e}"' for e in cluster.etcd_endpoints)
    peers = ", ".join(f'"{u}"' for u in cluster.urls)
    config.write_text(
        f'node_id = "node4"\ndata_dir = "."\ngenesis_file = "{cluster.dir / "genesis.json"}"\n'
        f'host = "127.0.0.1"\nport = {port}\nordering = "etcd"\n'
        f"etcd_endpoints = [{endpoints}]\npeers = [{peers}]\netcd_timeout_s = 3.0\n")
    # Txs before it joins: the new node must execute them from etcd.
    for u in cluster.urls:
        assert _attest(u, cluster.chain_id).json()["txs"][0]["status"] == "committed"

    _governance(cluster, {"type": "admit_node", "id": "node4", "operator": "harbor",
                          "key": key.public_key_hex}, "admit Harbor's second node")
    proc = subprocess.Popen([sys.executable, "-m", "consortia", "node", "start", "--config",
                             str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + JOIN_S_MAX
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "node4 did not start"
            time.sleep(0.2)
        # Admitted: it orders txs, and every node executes them.
        sent = _attest(url, cluster.chain_id)
        assert sent.status_code == 200, sent.text
        (status,) = sent.json()["txs"]
        assert status["status"] == "committed", status
        head = converge(cluster)
        assert head["height"] >= status["height"]
        for u in cluster.urls:
            assert httpx.get(f"{u}/v1/tx/{status['tx_id']}", timeout=5).status_code == 200
        # It executed everything from genesis and signs the same tree, with its own key.
        mine, theirs = _sth(url, head["height"]), _sth(cluster.urls[0], head["height"])
        assert (mine["tree_size"], mine["root_hash"]) == (theirs["tree_size"],
                                                            theirs["root_hash"])
        assert mine["node_key"] == key.public_key_hex != theirs["node_key"]
        # Its peers see it agree.
        deadline = time.monotonic() + 20
        while True:
            peers_of_4 = httpx.get(url + "/v1/peers", timeout=5).json()["peers"]
            if peers_of_4 and all(p["status"] == "agrees" for p in peers_of_4):
                break
            assert time.monotonic() < deadline, peers_of_4
            time.sleep(0.3)

        _governance(cluster, {"type": "remove_node", "id": "node4"}, "retire node4")
        deadline = time.monotonic() + 20
        while True:  # it learns of its removal from the ledger it follows
            refused = _attest(url, cluster.chain_id, wait_ms=0)
            if refused.status_code == 403:
                break
            assert time.monotonic() < deadline, refused.text
            time.sleep(0.2)
        assert refused.json()["code"] == "node_not_admitted"
        # The founding nodes go on without it.
        for u in cluster.urls:
            assert _attest(u, cluster.chain_id).json()["txs"][0]["status"] == "committed"
    finally:
        proc.terminate()
        proc.wait(15)
