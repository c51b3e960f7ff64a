"""Faults of a real consortium: 3 etcd processes, 3 node processes, real HTTP and SQLite.

Each test runs load (signed notary txs, round-robin over the nodes, each batch waiting for
its commit), injects a fault, and checks afterwards that every tx with a committed answer is
in every node's ledger once, at the leaf index it was given, and that all nodes sign the same
tree at the same height.
"""

from __future__ import annotations

import asyncio
import signal
import time

import aetcd
import httpx
import msgspec

from consortia.cluster.local import LocalCluster
from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import encode_signed
from consortia.node.config import NodeConfig
from consortia.node.etcd_orderer import EtcdBatch, Keys
from consortia.sdk.client import build_tx, encode_batch, tx_id_of
from tests.cluster.support import MSGPACK, Load, assert_ledgers_agree, converge, heads

# Committed txs to see before a fault and after it (about a second of load each).
BEFORE_TXS = 1_000
AFTER_TXS = 1_000
PROGRESS_S_MAX = 40.0


def test_killing_the_etcd_leader_under_load_loses_nothing_and_repeats_nothing(
        cluster: LocalCluster) -> None:
    etcd = cluster.etcd
    assert etcd is not None
    with Load(cluster, seed="leader-kill") as load:
        load.wait_for(BEFORE_TXS, PROGRESS_S_MAX)
        leader = etcd.leader()
        etcd.kill_member(leader, signal.SIGKILL)
        at_kill = load.count()
        # Two members are a quorum: the ledger goes on once they have elected a leader.
        load.wait_for(at_kill + AFTER_TXS, PROGRESS_S_MAX)
        assert etcd.pids()[leader] is None
        assert etcd.leader() != leader
    etcd.start_member(leader)
    head = assert_ledgers_agree(cluster, load)
    assert head["tree_size"] >= len(load.committed) >= at_kill + AFTER_TXS
    assert len(load.receipts) >= 3, "the load kept too few receipts to check"


def test_a_node_killed_under_load_catches_up_after_restart_and_agrees(
        cluster: LocalCluster) -> None:
    victim = 1
    with Load(cluster, seed="node-kill") as load:
        load.wait_for(BEFORE_TXS, PROGRESS_S_MAX)
        cluster.kill_node(victim, signal.SIGKILL)
        at_kill = load.count()
        load.wait_for(at_kill + AFTER_TXS, PROGRESS_S_MAX)  # the other two carry on
        down_head = heads([cluster.urls[0]])[0]
        assert heads([cluster.urls[victim]]) == [None]
        cluster.start_node(victim)  # load goes on while it catches up
        load.wait_for(load.count() + AFTER_TXS, PROGRESS_S_MAX)
    head = assert_ledgers_agree(cluster, load)
    assert down_head is not None and head["height"] > down_head["height"]


def _submit_each(cluster: LocalCluster, key: SigningKey, wait_ms: int) -> list[str]:
    """One notary tx to every node; their ids. With ``wait_ms``, each must commit."""
    ids = []
    with httpx.Client(timeout=wait_ms / 1000 + 10) as http:
        for url in cluster.urls:
            stx = build_tx(key, cluster.chain_id, "notary.attest",
                           {"digest": SigningKey.generate().public_key_hex})
            r = http.post(url + "/v1/txs", content=encode_batch([stx]),
                          params={"wait_ms": wait_ms}, headers=MSGPACK)
            assert r.status_code == 200, r.text
            (status,) = r.json()["txs"]
            if wait_ms:
                assert status["status"] == "committed", (url, status)
            ids.append(tx_id_of(stx))
    return ids


def test_a_hung_etcd_member_and_a_restart_of_all_members_do_not_stop_the_ledger(
        cluster: LocalCluster) -> None:
    etcd = cluster.etcd
    assert etcd is not None
    with Load(cluster, seed="pause") as load:
        load.wait_for(BEFORE_TXS // 2, PROGRESS_S_MAX)
        hung = etcd.leader()  # the harder case: clients on it and the cluster must re-elect
        etcd.pause_member(hung)
        try:
            at_pause = load.count()
            # A member that answers nothing is left by its clients (call timeouts, health
            # probe): commits go on while it hangs.
            load.wait_for(at_pause + AFTER_TXS, PROGRESS_S_MAX)
        finally:
            etcd.resume_member(hung)
        load.wait_for(load.count() + AFTER_TXS // 2, PROGRESS_S_MAX)
    assert_ledgers_agree(cluster, load)

    # Every member down at once: nodes keep serving reads and queue submissions.
    etcd.stop()
    assert etcd.pids() == [None, None, None]
    key = SigningKey.generate()
    queued = _submit_each(cluster, key, wait_ms=0)
    time.sleep(1.0)
    assert all(h is not None for h in heads(cluster.urls)), "a node died with etcd"
    etcd.start()
    with httpx.Client(timeout=10) as http:
        deadline = time.monotonic() + PROGRESS_S_MAX
        for url in cluster.urls:
            for tx_id in queued:
                while http.get(f"{url}/v1/tx/{tx_id}").json().get("status") != "committed":
                    assert time.monotonic() < deadline, f"{tx_id} not committed on {url}"
                    time.sleep(0.1)
    _submit_each(cluster, key, wait_ms=30_000)  # and new txs commit on every node
    head = converge(cluster)
    assert_ledgers_agree(cluster)
    assert head["tree_size"] >= len(load.committed) + 2 * len(cluster.urls)


def _txs_dropped(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    (line,) = [x for x in text.splitlines() if x.startswith("consortia_txs_dropped_total ")]
    return float(line.split()[1])


def _write_batch(endpoint: str, key: bytes, value: bytes) -> int:
    """Put one value straight into etcd, as a faulty or hostile writer would; its revision."""

    async def put() -> int:
        host, port = endpoint.rsplit(":", 1)
        async with aetcd.Client(host=host, port=int(port)) as client:
            await client.put(key, value)
            found = await client.get(key)
            assert found is not None
            return int(found.create_revision)

    return asyncio.run(put())


def test_a_tampered_batch_in_etcd_is_dropped_identically_by_every_node(
        cluster: LocalCluster) -> None:
    converge(cluster)
    dropped_before = [_txs_dropped(url) for url in cluster.urls]
    key = SigningKey.generate()
    genuine = build_tx(key, cluster.chain_id, "notary.attest", {"digest": "11" * 32})
    honest = build_tx(key, cluster.chain_id, "notary.attest", {"digest": "22" * 32})
    signature = bytearray(bytes.fromhex(honest.signature))
    signature[10] ^= 0x01
    tampered = msgspec.structs.replace(honest, signature=signature.hex())
    assert tx_id_of(tampered) == tx_id_of(honest)  # the id covers the tx, not its signature
    batch = EtcdBatch(id="intruder-0000000000000001", node_id="intruder",
                      time_ms=time.time_ns() // 1_000_000,
                      txs=[encode_signed(tampered), encode_signed(genuine)])
    keys = Keys.of(NodeConfig().etcd_prefix, cluster.chain_id)
    revision = _write_batch(cluster.etcd_endpoints[0], keys.batch(batch.id),
                            msgspec.msgpack.encode(batch))

    head = assert_ledgers_agree(cluster)
    with httpx.Client(timeout=10) as http:
        for url in cluster.urls:
            found = http.get(f"{url}/v1/tx/{tx_id_of(genuine)}").json()
            assert found["status"] == "committed", (url, found)
            assert found["result"]["status"] == "accepted"
            block = http.get(f"{url}/v1/blocks/{found['height']}").json()
            assert block["batch_seq"] == revision  # etcd's order is every node's order
            assert block["tx_ids"] == [tx_id_of(genuine)]
            assert block["dropped"] == 1
            missing = http.get(f"{url}/v1/tx/{tx_id_of(tampered)}")
            assert missing.status_code == 404, (url, missing.text)
            assert missing.json()["code"] == "unknown_tx"
        leaves = {http.get(f"{url}/v1/tx/{tx_id_of(genuine)}").json()["leaf_index"]
                  for url in cluster.urls}
        assert len(leaves) == 1
    assert [_txs_dropped(url) - before for url, before in
            zip(cluster.urls, dropped_before, strict=True)] == [1.0] * len(cluster.urls)

    # Dropping left no trace of the id: the honestly signed tx commits on every node.
    with httpx.Client(timeout=40) as http:
        r = http.post(cluster.urls[1] + "/v1/txs", content=encode_batch([honest]),
                      params={"wait_ms": 30_000}, headers=MSGPACK)
        assert r.json()["txs"][0]["status"] == "committed"
    after = assert_ledgers_agree(cluster)
    assert after["tree_size"] == head["tree_size"] + 1
    for url in cluster.urls:
        assert httpx.get(f"{url}/v1/tx/{tx_id_of(honest)}", timeout=10).json()[
            "result"]["status"] == "accepted"
