"""``consortia cluster up|status|down`` as a person runs it: separate processes, real etcd."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from consortia.cluster.local import LocalCluster, _alive
from consortia.crypto.keys import SigningKey
from consortia.ledger.genesis import load_genesis
from consortia.sdk.client import Client

CLI_TIMEOUT_S = 180


def cluster_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "consortia", "cluster", *args],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def running(up: dict[str, Any], directory: Path) -> list[int]:
    """The pids from ``up``'s JSON whose processes still run our command lines."""
    nodes = [n["pid"] for n in up["nodes"]
             if _alive(n["pid"], str(Path(n["data_dir"]) / "node.toml"))]
    return nodes + [p for p in up["etcd"]["pids"] if _alive(p, str(directory / "etcd"))]


def test_cluster_up_status_down_and_up_again_on_the_kept_data(tmp_path: Path) -> None:
    directory = (tmp_path / "consortium").resolve()
    result = cluster_cli("up", "--nodes", "2", "--dir", str(directory))
    try:
        assert result.returncode == 0, result.stderr
        up = json.loads(result.stdout)
        assert sorted(up) == ["chain_id", "etcd", "nodes"]
        assert [n["id"] for n in up["nodes"]] == ["node1", "node2"]
        assert len(up["etcd"]["endpoints"]) == 3 and all(up["etcd"]["pids"])
        assert len(running(up, directory)) == 5

        # One genesis naming both nodes with the keys they sign with; keys are 0600 files.
        genesis = load_genesis(directory / "genesis.json")
        assert genesis.chain_id == up["chain_id"]
        assert [(g.id, g.key) for g in genesis.nodes] == [(n["id"], n["node_key"])
                                                           for n in up["nodes"]]
        assert len({g.operator for g in genesis.nodes}) == 2
        for path in [*directory.glob("node*/node.key"), *directory.glob("keys/*.key")]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for node in up["nodes"]:
            info = httpx.get(node["url"] + "/v1/chain", timeout=10).json()
            assert (info["chain_id"], info["node_key"]) == (up["chain_id"], node["node_key"])

        again = cluster_cli("up", "--nodes", "2", "--dir", str(directory))
        assert again.returncode == 1
        assert again.stdout == ""
        assert len(again.stderr.strip().splitlines()) == 1
        assert "already holds a running cluster" in again.stderr

        # A tx sent to node1 is ordered by etcd and executed by node2 as well.
        member = SigningKey.load(directory / "keys" / "harbor.key")
        first, second = up["nodes"]
        with Client(first["url"], node_key=first["node_key"]) as client:
            result_, receipt = client.send(member, "notary.attest", {"digest": "ab" * 32})
        assert result_["status"] == "accepted"
        with Client(second["url"], node_key=second["node_key"]) as client:
            client.wait(receipt["tx_id"])
            client.verify(client.receipt(receipt["tx_id"]))

        status = cluster_cli("status", "--dir", str(directory), "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["agree"] is True and report["all_up"] is True
        assert [n["up"] for n in report["nodes"]] == [True, True]
        assert report["common_height"] >= 1
        table = cluster_cli("status", "--dir", str(directory))
        assert table.returncode == 0
        assert "heads agree at height" in table.stdout and ": yes" in table.stdout
        assert "node2" in table.stdout

        # The benchmark runs against this cluster, then an embedded node, checking both.
        bench = subprocess.run(
            [sys.executable, "-m", "consortia", "bench", "--cluster", str(directory),
             "-n", "400", "--batch", "100", "--clients", "2", "--json"],
            capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        assert bench.returncode == 0, bench.stderr
        measured = json.loads(bench.stdout)
        assert measured["checks_failed"] == []
        assert measured["cluster"]["nodes"] == 2 and measured["embedded"]["nodes"] == 1
        for part in ("cluster", "embedded"):
            assert measured[part]["committed_tx_per_s"] > 0
            assert measured[part]["latency_p50_ms"] <= measured[part]["latency_p99_ms"]
        assert measured["cluster"]["final_tree_size"] == report["nodes"][0]["tree_size"] + 400
    finally:
        down = cluster_cli("down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert "node1" in down.stdout and "etcd" in down.stdout
    assert running(up, directory) == []
    recorded = json.loads((directory / "cluster.json").read_text())
    assert [n["pid"] for n in recorded["nodes"]] == [None, None]
    assert recorded["etcd"]["pids"] == [None, None, None]

    twice = cluster_cli("down", "--dir", str(directory))
    assert twice.returncode == 0 and "nothing was running" in twice.stdout
    status = cluster_cli("status", "--dir", str(directory), "--json")
    assert json.loads(status.stdout)["nodes"][0]["up"] is False

    # The directory keeps the consortium: up again resumes the same chain and ledger.
    cluster = LocalCluster.up(directory, 2)
    try:
        report = cluster.status()
        assert report["agree"] is True
        assert report["common_height"] >= 1
        assert [n.node_key for n in cluster.nodes] == [n["node_key"] for n in up["nodes"]]
    finally:
        cluster.down()
    assert not cluster.running()


def test_cluster_commands_refuse_a_directory_without_a_cluster(tmp_path: Path) -> None:
    for args in (["status", "--dir", str(tmp_path)], ["down", "--dir", str(tmp_path)]):
        result = cluster_cli(*args)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"error: no cluster in {tmp_path} (no cluster.json)"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("not a cluster")
    refused = cluster_cli("up", "--dir", str(tmp_path / "other"))
    assert refused.returncode == 1
    assert "is not empty and holds no cluster" in refused.stderr
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["file.txt"]
