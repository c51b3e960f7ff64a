"""A node catches up from a peer's snapshot: only nodes may fetch one, only a verified one is
installed, its tree heads become the new node's own, and no longer or different ledger is ever
overwritten."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from consortia.api.request_signing import sign_request
from consortia.crypto.keys import SigningKey, verify
from consortia.demo.consortium import DEMO_CHAIN_ID, FOUNDERS, member_key
from consortia.ledger.executor import Executor
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.ledger.receipts import sth_message
from consortia.ledger.replay import ReplayError, replay
from consortia.ledger.store import Store
from consortia.modules import default_modules
from consortia.node.snapshot import (
    NotNewer,
    SnapshotError,
    SnapshotInfo,
    fetch_snapshot,
    install_snapshot,
    local_batch_seq,
)
from tests.conftest import RunningNode, free_port, start_node_server

NODE_IDS = ("node1", "node2", "node3")


@dataclass
class Consortium:
    """node1 serving a ledger with some txs; node2 and node3 are genesis nodes not running."""

    root: Path
    genesis: Genesis
    keys: dict[str, SigningKey]  # node keys by node id
    members: dict[str, SigningKey]
    node1: RunningNode
    app: Any  # node1's FastAPI app

    def fetch(self, dest: Path, node_id: str = "node2") -> SnapshotInfo:
        return fetch_snapshot(self.node1.url, self.keys[node_id], dest,
                              genesis_hash=self.genesis.digest())

    def install(self, info_or_path: SnapshotInfo | Path, data_dir: Path,
                node_id: str = "node2", **kw: Any) -> Any:
        path = info_or_path.path if isinstance(info_or_path, SnapshotInfo) else info_or_path
        return install_snapshot(path, data_dir, self.genesis, self.keys[node_id],
                                self.node1.node.key.public_key_hex, default_modules(), **kw)

    def attest(self, count: int) -> None:
        """``count`` notary txs, one block each (each waits for its receipt)."""
        signer = SigningKey.generate()
        with self.node1.client() as client:
            for _ in range(count):
                digest = os.urandom(32).hex()
                result, _ = client.send(signer, "notary.attest", {"digest": digest})
                assert result["status"] == "accepted"


def write_genesis(data_dir: Path, node_keys: dict[str, SigningKey]) -> Genesis:
    """A genesis like the demo's (same member key files) with three nodes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    node_keys["node1"].save(data_dir / "node.key")
    genesis = Genesis(
        chain_id=DEMO_CHAIN_ID, time_ms=time.time_ns() // 1_000_000,
        members=[GenesisMember(i.id, i.name, i.role, member_key(data_dir, i.id).public_key_hex)
                 for i in FOUNDERS],
        nodes=[GenesisNode(n, "lotus", node_keys[n].public_key_hex) for n in NODE_IDS])
    (data_dir / "genesis.json").write_bytes(genesis.to_json())
    return genesis


def serve(data_dir: Path) -> tuple[RunningNode, Callable[[], None]]:
    running, _, stop = serve_app(data_dir)
    return running, stop


def serve_app(data_dir: Path) -> tuple[RunningNode, Any, Callable[[], None]]:
    """A node serving HTTP, its FastAPI app, and how to stop it."""
    running, server, thread = start_node_server(data_dir)

    def stop() -> None:
        server.should_exit = True  # type: ignore[attr-defined]
        assert isinstance(thread, threading.Thread)
        thread.join(10)

    return running, server.config.app, stop  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    root = tmp_path_factory.mktemp("consortium")
    keys = {n: SigningKey.generate() for n in NODE_IDS}
    genesis = write_genesis(root / "node1", keys)
    node1, app, stop = serve_app(root / "node1")
    members = {i.id: member_key(root / "node1", i.id) for i in FOUNDERS}
    c = Consortium(root, genesis, keys, members, node1, app)
    c.attest(4)
    yield c
    stop()


def replays_with(db: Path, genesis: Genesis, key: bytes) -> bool:
    store = Store(db)
    try:
        replay(store, genesis, Executor(genesis.chain_id, default_modules()), key)
        return True
    except ReplayError:
        return False
    finally:
        store.close()


def ledger_digest(path: Path) -> str:
    """Every block (signatures included), tx and state row: what "unchanged" means for a
    ledger whose file SQLite may rewrite (a WAL folded in) without changing its content."""
    h = hashlib.sha256()
    with sqlite3.connect(path) as conn:
        for table, order in (("blocks", "height"), ("txs", "leaf_index"), ("state", "key"),
                             ("meta", "key")):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


def adopt(client: Any, members: dict[str, SigningKey], action: dict[str, Any]) -> None:
    """Propose as harbor, then vote yes until the proposal is decided (3 of 4 founders)."""
    result, _ = client.send(members["harbor"], "governance.propose",
                            {"action": action, "note": action["type"]})
    assert result["status"] == "accepted", result
    proposal_id = result["data"]["proposal_id"]
    for voter in ("harbor", "lotus", "fro"):
        result, _ = client.send(members[voter], "governance.vote",
                                {"proposal_id": proposal_id, "approve": True})
        assert result["status"] == "accepted", result
    assert client.get(f"/v1/governance/proposals/{proposal_id}")["status"] == "accepted"


# -- fetching and installing ---------------------------------------------------------------


def test_active_node_installs_a_snapshot_that_replays_with_its_own_key(
        consortium: Consortium, tmp_path: Path) -> None:
    node1 = consortium.node1.node
    info = consortium.fetch(tmp_path / "download.sqlite")
    head = node1.store.block(info.head.height)
    assert head is not None and info.head.height >= 4
    assert (info.head.tree_size, info.head.root_hash) == (head.tree_size, head.root_hash)
    assert info.head.batch_seq == head.batch_seq
    assert info.node_key == node1.key.public_key_hex
    assert info.size_bytes == info.path.stat().st_size

    data_dir = tmp_path / "node2"
    report = consortium.install(info, data_dir)
    installed = data_dir / "ledger.sqlite"
    assert report.head == info.head and report.previous_height is None
    assert report.peer_node_id == "node1" and report.replayed.blocks == info.head.height
    assert not info.path.exists()  # moved, not copied
    assert sorted(p.name for p in data_dir.iterdir()) == ["ledger.sqlite"]
    # The receipts node2 serves are its own: every tree head is signed by its key now.
    assert replays_with(installed, consortium.genesis, consortium.keys["node2"].public_key)
    assert not replays_with(installed, consortium.genesis, node1.key.public_key)
    assert local_batch_seq(installed) == info.head.batch_seq
    with sqlite3.connect(installed) as conn:
        (stored_hash,) = conn.execute("SELECT hash FROM blocks WHERE height = ?",
                                      (info.head.height,)).fetchone()
    assert stored_hash == head.hash


def test_snapshot_headers_and_refusals(consortium: Consortium, tmp_path: Path) -> None:
    url = consortium.node1.url + "/v1/snapshot"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "auth_required"
    stranger = SigningKey.generate()
    refused = httpx.get(url, headers=sign_request(stranger, "GET", "/v1/snapshot"))
    assert refused.status_code == 403 and refused.json()["code"] == "not_a_node"
    assert "node" in refused.json()["message"]
    # A member's key is not a node's key either.
    member = consortium.members["harbor"]
    refused = httpx.get(url, headers=sign_request(member, "GET", "/v1/snapshot"))
    assert refused.status_code == 403 and refused.json()["code"] == "not_a_node"
    with pytest.raises(SnapshotError, match="403 not_a_node"):
        fetch_snapshot(consortium.node1.url, stranger, tmp_path / "s.sqlite")
    assert not (tmp_path / "s.sqlite").exists()
    # Another chain's node is told before it downloads anything.
    with pytest.raises(SnapshotError, match="another genesis"):
        fetch_snapshot(consortium.node1.url, consortium.keys["node2"], tmp_path / "s.sqlite",
                       genesis_hash=bytes(32))
    assert not (tmp_path / "s.sqlite").exists()
    # A size limit below the snapshot refuses it, leaving nothing behind.
    with pytest.raises(SnapshotError, match="more than the limit"):
        fetch_snapshot(consortium.node1.url, consortium.keys["node2"], tmp_path / "s.sqlite",
                       bytes_max=4096)
    assert not (tmp_path / "s.sqlite").exists()
    # An existing file is neither overwritten nor removed.
    taken = tmp_path / "taken.sqlite"
    taken.write_bytes(b"mine")
    with pytest.raises(SnapshotError, match="refusing to overwrite"):
        fetch_snapshot(consortium.node1.url, consortium.keys["node2"], taken)
    assert taken.read_bytes() == b"mine"
    # Nothing left on the serving node's disk either.
    assert not list(consortium.node1.data_dir.glob(".snapshot-*"))


def test_admitted_node_may_fetch_and_removed_node_may_not(consortium: Consortium,
                                                          tmp_path: Path) -> None:
    joiner = SigningKey.generate()
    with pytest.raises(SnapshotError, match="403 not_a_node"):
        fetch_snapshot(consortium.node1.url, joiner, tmp_path / "a.sqlite")
    with consortium.node1.client() as client:
        adopt(client, consortium.members, {"type": "admit_node", "id": "node4",
                                           "operator": "harbor", "key": joiner.public_key_hex})
        info = fetch_snapshot(consortium.node1.url, joiner, tmp_path / "a.sqlite")
        assert info.size_bytes > 0
        adopt(client, consortium.members, {"type": "remove_node", "id": "node4"})
    with pytest.raises(SnapshotError, match="403 node_removed"):
        fetch_snapshot(consortium.node1.url, joiner, tmp_path / "b.sqlite")
    response = httpx.get(consortium.node1.url + "/v1/snapshot",
                         headers=sign_request(joiner, "GET", "/v1/snapshot"))
    assert response.status_code == 403
    assert response.json()["code"] == "node_removed" and "node4" in response.json()["message"]


def test_one_snapshot_at_a_time(consortium: Consortium) -> None:
    url = consortium.node1.url + "/v1/snapshot"
    key = consortium.keys["node2"]
    # A ledger this small is sent before a second request arrives; a transfer in progress is
    # one that holds the slot.
    slot = consortium.app.state.snapshot_slot
    assert slot.take()
    try:
        busy = httpx.get(url, headers=sign_request(key, "GET", "/v1/snapshot"), timeout=30)
        assert busy.status_code == 503 and busy.json()["code"] == "snapshot_busy"
    finally:
        slot.release()
    # A stream abandoned half-read frees the slot too.
    with httpx.Client(timeout=30) as client, \
            client.stream("GET", url, headers=sign_request(key, "GET", "/v1/snapshot")) as first:
        assert first.status_code == 200
        next(first.iter_bytes(1024))
    deadline = time.monotonic() + 10
    while True:
        again = httpx.get(url, headers=sign_request(key, "GET", "/v1/snapshot"), timeout=30)
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert again.status_code == 200
    assert int(again.headers["content-length"]) == len(again.content)


# -- checks before use ---------------------------------------------------------------------


def _swap_result(conn: sqlite3.Connection) -> None:
    (other,) = conn.execute("SELECT result FROM txs WHERE leaf_index = 1").fetchone()
    conn.execute("UPDATE txs SET result = ? WHERE leaf_index = 0", (other,))


def _edit_state(conn: sqlite3.Connection) -> None:
    key, value = conn.execute(
        "SELECT key, value FROM state WHERE key LIKE 'notary/%' LIMIT 1").fetchone()
    record = msgspec.msgpack.decode(value)
    record["label"] = "forged"
    conn.execute("UPDATE state SET value = ? WHERE key = ?",
                 (msgspec.msgpack.encode(record), key))


def _edit_raw(conn: sqlite3.Connection) -> None:
    # The raw tx ends with its signature (hex): one character off makes it not verify.
    (raw,) = conn.execute("SELECT raw FROM txs WHERE leaf_index = 2").fetchone()
    last = b"0" if raw[-1:] != b"0" else b"1"
    conn.execute("UPDATE txs SET raw = ? WHERE leaf_index = 2", (raw[:-1] + last,))


def _edit_signer(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE txs SET signer = ? WHERE leaf_index = 0", ("ab" * 32,))


def _edit_signature(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE blocks SET sth_signature = ? WHERE height = 2", (bytes(64),))


def _add_trigger(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TRIGGER t AFTER UPDATE ON blocks BEGIN "
                 "UPDATE state SET value = x'00'; END")


def _drop_tx(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM txs WHERE leaf_index = (SELECT max(leaf_index) FROM txs)")


TAMPERS: dict[str, tuple[Callable[[sqlite3.Connection], None], str]] = {
    "result": (_swap_result, "re-executes to a different result"),
    "state": (_edit_state, "state differs from re-execution"),
    "raw": (_edit_raw, "re-execution kept"),
    "signer": (_edit_signer, "kind, signer or expiry differ"),
    "sth_signature": (_edit_signature, "tree head signature is invalid"),
    "trigger": (_add_trigger, "schema differs"),
    "missing_tx": (_drop_tx, "not leaves 0..tree size - 1"),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_snapshot_is_refused_and_nothing_installed(
        consortium: Consortium, tmp_path: Path, tamper: str) -> None:
    edit, why = TAMPERS[tamper]
    info = consortium.fetch(tmp_path / "download.sqlite")
    with sqlite3.connect(info.path) as conn:
        edit(conn)
    data_dir = tmp_path / "node2"
    data_dir.mkdir()
    with pytest.raises(SnapshotError, match=why):
        consortium.install(info, data_dir)
    assert list(data_dir.iterdir()) == []


def test_snapshot_signed_by_a_non_node_or_of_another_chain_is_refused(
        consortium: Consortium, tmp_path: Path) -> None:
    info = consortium.fetch(tmp_path / "download.sqlite")
    data_dir = tmp_path / "node2"
    # Replay checks every tree head against the key the peer claims.
    with pytest.raises(SnapshotError, match="tree head signature is invalid"):
        install_snapshot(info.path, data_dir, consortium.genesis, consortium.keys["node2"],
                         consortium.keys["node3"].public_key_hex, default_modules())
    other = msgspec.structs.replace(consortium.genesis, chain_id="another-chain")
    with pytest.raises(SnapshotError, match="another chain"):
        install_snapshot(info.path, data_dir, other, consortium.keys["node2"], info.node_key,
                         default_modules())
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(SnapshotError, match=r"not a ledger|cannot be opened"):
        consortium.install(garbage, data_dir)
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_snapshot_extends_a_prefix_and_never_overwrites_a_longer_ledger(
        consortium: Consortium, tmp_path: Path) -> None:
    data_dir = tmp_path / "node2"
    short = consortium.fetch(tmp_path / "short.sqlite")
    kept_short = tmp_path / "short-copy.sqlite"
    shutil.copy(short.path, kept_short)
    consortium.install(short, data_dir)
    consortium.attest(2)
    long = consortium.fetch(tmp_path / "long.sqlite")
    report = consortium.install(long, data_dir)
    assert report.previous_height == short.head.height
    assert report.head.height == long.head.height > short.head.height
    installed = data_dir / "ledger.sqlite"
    before = ledger_digest(installed)
    with pytest.raises(NotNewer, match=f"local ledger is at height {long.head.height}"):
        consortium.install(kept_short, data_dir)
    assert ledger_digest(installed) == before
    again = consortium.fetch(tmp_path / "same.sqlite")
    if again.head.height == long.head.height:
        with pytest.raises(NotNewer):
            consortium.install(again, data_dir)
        assert ledger_digest(installed) == before
    assert replays_with(installed, consortium.genesis, consortium.keys["node2"].public_key)


def test_different_ledger_is_never_overwritten_and_a_diverging_witness_refuses(
        consortium: Consortium, tmp_path: Path) -> None:
    # node3 runs alone on the same genesis and executes other txs: its chain differs.
    fork_dir = tmp_path / "node3"
    fork_dir.mkdir()
    shutil.copy(consortium.root / "node1" / "genesis.json", fork_dir / "genesis.json")
    consortium.keys["node3"].save(fork_dir / "node.key")
    fork, stop = serve(fork_dir)
    try:
        with fork.client() as client:
            for i in range(2):
                result, _ = client.send(SigningKey.generate(), "notary.attest",
                                        {"digest": f"{i:064x}"})
                assert result["status"] == "accepted"
        info = consortium.fetch(tmp_path / "download.sqlite")
        # A witness that signed another tree head at that height refuses the snapshot.
        with pytest.raises(SnapshotError, match=r"node3 .* signed a different tree head"):
            consortium.install(info, tmp_path / "node2", witness_urls=[fork.url])
        assert not (tmp_path / "node2" / "ledger.sqlite").exists()
        # A peer without a usable answer only fails to confirm.
        report = consortium.install(info, tmp_path / "node2",
                                    witness_urls=[f"http://127.0.0.1:{free_port()}",
                                                  consortium.node1.url])
        assert report.confirmed_by == []
        assert len(report.unconfirmed) == 2
        assert "snapshot's own peer" in report.unconfirmed[1]
    finally:
        stop()
    # The fork's own ledger is verified-different from the snapshot: never overwritten.
    ledger = fork_dir / "ledger.sqlite"
    before = ledger_digest(ledger)
    info = consortium.fetch(tmp_path / "again.sqlite")
    with pytest.raises(SnapshotError, match="differs from the verified snapshot"):
        install_snapshot(info.path, fork_dir, consortium.genesis, consortium.keys["node3"],
                         info.node_key, default_modules())
    assert ledger_digest(ledger) == before


def test_agreeing_witness_confirms(consortium: Consortium, tmp_path: Path) -> None:
    # node2 starts from node1's snapshot: it signs the same roots at the same heights.
    node2_dir = tmp_path / "node2"
    consortium.install(consortium.fetch(tmp_path / "a.sqlite"), node2_dir)
    shutil.copy(consortium.root / "node1" / "genesis.json", node2_dir / "genesis.json")
    consortium.keys["node2"].save(node2_dir / "node.key")
    node2, stop = serve(node2_dir)
    try:
        info = consortium.fetch(tmp_path / "b.sqlite", node_id="node3")
        report = consortium.install(info, tmp_path / "node3", node_id="node3",
                                    witness_urls=[node2.url], witnesses_min=1)
        height = node2.node.chain.head.height
        assert report.confirmed_by == [f"node2 at height {min(height, info.head.height)}"]
        with pytest.raises(SnapshotError, match="2 required"):
            consortium.install(consortium.fetch(tmp_path / "c.sqlite", node_id="node3"),
                               tmp_path / "node3b", node_id="node3",
                               witness_urls=[node2.url], witnesses_min=2)
        # A running node's ledger is never replaced under it, even by a longer verified one.
        consortium.attest(1)
        longer = consortium.fetch(tmp_path / "d.sqlite")
        before = ledger_digest(node2_dir / "ledger.sqlite")
        with pytest.raises(SnapshotError, match="is the node running"):
            consortium.install(longer, node2_dir)
        assert ledger_digest(node2_dir / "ledger.sqlite") == before
        assert node2.node.chain.head.height < longer.head.height
    finally:
        stop()


# -- consortia node start --catch-up-from --------------------------------------------------


def start_process(config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "consortia", "node", "start", "--config",
                             str(config), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def node_dir(consortium: Consortium, path: Path, node_id: str, key: SigningKey,
             settings: str = "") -> tuple[Path, str]:
    """A data directory with the genesis, the node key and a config; (config, node URL)."""
    path.mkdir()
    shutil.copy(consortium.root / "node1" / "genesis.json", path / "genesis.json")
    key.save(path / "node.key")
    port = free_port()
    config = path / "node.toml"
    config.write_text(f'node_id = "{node_id}"\ndata_dir = "."\nport = {port}\n{settings}')
    return config, f"http://127.0.0.1:{port}"


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def test_node_start_catch_up_from_installs_then_serves_as_itself(
        consortium: Consortium, tmp_path: Path) -> None:
    key = consortium.keys["node2"]
    config, url = node_dir(consortium, tmp_path / "node2", "node2", key)
    height_before = consortium.node1.node.chain.head.height
    proc = start_process(config, "--catch-up-from", consortium.node1.url)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "node did not start"
            time.sleep(0.1)
        chain = httpx.get(url + "/v1/chain").json()
        assert chain["node_key"] == key.public_key_hex
        assert chain["height"] >= height_before > 0
        sth = httpx.get(url + f"/v1/sth/{chain['height']}").json()
        ours = consortium.node1.node.store.block(chain["height"])
        assert ours is not None and bytes.fromhex(sth["root_hash"]) == ours.root_hash
        assert verify(key.public_key, sth_message(sth["tree_size"],
                                                  bytes.fromhex(sth["root_hash"]),
                                                  sth["height"], sth["time_ms"]),
                      bytes.fromhex(sth["signature"]))
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    lines = out.splitlines()
    assert lines[0] == f"catch-up: fetching a snapshot from {consortium.node1.url}"
    assert any(line.startswith("catch-up: verified:") for line in lines)
    assert any(line.startswith("catch-up: installed") for line in lines)
    verified = subprocess.run([sys.executable, "-m", "consortia", "node", "verify",
                               "--data-dir", str(tmp_path / "node2")],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok:")


def test_node_start_that_cannot_catch_up_exits_with_one_line(consortium: Consortium,
                                                             tmp_path: Path) -> None:
    # Nobody listens at the peer URL.
    config, _ = node_dir(consortium, tmp_path / "a", "node2", consortium.keys["node2"])
    dead = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([sys.executable, "-m", "consortia", "node", "start", "--config",
                           str(config), "--catch-up-from", dead],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: cannot catch up: no peer gave a usable snapshot")
    assert not (tmp_path / "a" / "ledger.sqlite").exists()
    # A node whose key the consortium never admitted is refused by the peer.
    config, _ = node_dir(consortium, tmp_path / "b", "rogue", SigningKey.generate())
    done = subprocess.run([sys.executable, "-m", "consortia", "node", "start", "--config",
                           str(config), "--catch-up-from", consortium.node1.url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1
    assert "403 not_a_node" in done.stderr
    assert not (tmp_path / "b" / "ledger.sqlite").exists()


# -- etcd: a node behind the window catches up by snapshot, then from etcd -----------------


def test_node_behind_the_etcd_window_catches_up_by_snapshot_then_from_etcd(
        tmp_path: Path) -> None:
    from consortia.node.config import NodeConfig
    from consortia.node.etcd_orderer import read_floor_sync
    from tests.etcd_support import running_etcd_cluster

    keys = {n: SigningKey.generate() for n in NODE_IDS}
    genesis = write_genesis(tmp_path / "node1", keys)
    with running_etcd_cluster(tmp_path / "etcd") as etcd:
        running, server, thread = start_node_server(
            tmp_path / "node1", ordering="etcd", etcd_endpoints=etcd.endpoints)
        try:
            node1 = Consortium(tmp_path, genesis, keys, {}, running, None)
            node1.attest(3)
            # The window has moved past everything node1 applied (what the window does when
            # nodes lag beyond etcd_window_batches_max; set here directly, so this test does
            # not depend on the window's timing).
            floor = running.node.chain.last_batch_seq()
            subprocess.run(["etcdctl", "--endpoints", ",".join(etcd.endpoints), "put",
                            f"/consortia/{genesis.chain_id}/floor", str(floor)],
                           check=True, capture_output=True, timeout=30)
            probe = NodeConfig(ordering="etcd", etcd_endpoints=etcd.endpoints)
            assert read_floor_sync(probe, genesis.chain_id) == floor > 0

            settings = f'ordering = "etcd"\netcd_endpoints = {toml_list(etcd.endpoints)}\n'
            config, url = node_dir(node1, tmp_path / "node2", "node2", keys["node2"],
                                   settings + "peers = []\n")
            # Without a peer to ask, a node below the floor cannot start.
            done = subprocess.run([sys.executable, "-m", "consortia", "node", "start",
                                   "--config", str(config)],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode != 0
            assert done.stderr.startswith("error: cannot catch up: no peer to fetch")
            # (The window may have moved on since: the floor only rises.)
            below = re.search(r"batch_seq 0, below the etcd floor (\d+)", done.stdout)
            assert below is not None and int(below.group(1)) >= floor
            assert not (tmp_path / "node2" / "ledger.sqlite").exists()

            config.write_text(config.read_text().replace(
                "peers = []", f"peers = {toml_list([running.url])}"))
            proc = start_process(config)
            try:
                deadline = time.monotonic() + 60
                while True:
                    assert proc.poll() is None, proc.communicate()
                    try:
                        if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "node2 did not start"
                    time.sleep(0.1)
                # New batches reach node2 through etcd, and it builds the same tree.
                node1.attest(2)
                head = running.node.chain.head
                deadline = time.monotonic() + 30
                while httpx.get(url + "/v1/chain").json()["height"] < head.height:
                    assert time.monotonic() < deadline, "node2 did not follow etcd"
                    time.sleep(0.1)
                sth = httpx.get(url + f"/v1/sth/{head.height}").json()
                assert bytes.fromhex(sth["root_hash"]) == head.root_hash
                assert sth["node_key"] == keys["node2"].public_key_hex
            finally:
                proc.terminate()
                out, _ = proc.communicate(timeout=30)
            assert "catch-up: this node resumes after batch_seq 0, below the etcd floor" in out
            assert "catch-up: installed" in out
        finally:
            server.should_exit = True  # type: ignore[attr-defined]
            assert isinstance(thread, threading.Thread)
            thread.join(10)
