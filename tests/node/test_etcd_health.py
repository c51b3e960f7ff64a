"""A node ordered by etcd says so in /healthz when no etcd member answers, and recovers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from consortia.cluster.etcd import EtcdCluster
from consortia.sdk.client import build_tx, encode_batch
from tests.conftest import RunningNode, start_node_server
from tests.etcd_support import running_etcd_cluster

pytestmark = pytest.mark.timeout(120)
MSGPACK = {"content-type": "application/msgpack"}


@pytest.fixture
def etcd_node(tmp_path: Path) -> Iterator[tuple[RunningNode, EtcdCluster]]:
    with running_etcd_cluster(tmp_path / "etcd") as etcd:
        running, server, thread = start_node_server(
            tmp_path / "node", ordering="etcd", etcd_endpoints=etcd.endpoints,
            etcd_timeout_s=0.5)
        try:
            yield running, etcd
        finally:
            server.should_exit = True  # type: ignore[attr-defined]
            thread.join(10)


def _health_until(url: str, status: str, timeout_s: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        body = httpx.get(url + "/healthz", timeout=5).json()
        if body["status"] == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"/healthz never said {status!r}; last {body}")


def _attest(node: RunningNode) -> bytes:
    key = node.keys["harbor"]
    return encode_batch([build_tx(key, node.genesis.chain_id, "notary.attest",
                                  {"digest": time.time_ns().to_bytes(32, "big").hex()})])


def test_health_degrades_while_no_etcd_member_answers_and_recovers(
        etcd_node: tuple[RunningNode, EtcdCluster]) -> None:
    node, etcd = etcd_node
    ok = httpx.post(node.url + "/v1/txs", content=_attest(node), params={"wait_ms": 10_000},
                    headers=MSGPACK, timeout=15)
    assert ok.json()["txs"][0]["status"] == "committed"
    assert _health_until(node.url, "ok", 5)["status"] == "ok"

    for i in range(3):  # the members keep their TCP connections open but answer nothing
        etcd.pause_member(i)
    try:
        body = _health_until(node.url, "degraded", 20)
        assert "no etcd member has answered" in str(body["reason"])
        assert httpx.get(node.url + "/healthz", timeout=5).status_code == 503
        # Reads go on meanwhile.
        assert httpx.get(node.url + "/v1/sth", timeout=5).status_code == 200
    finally:
        for i in range(3):
            etcd.resume_member(i)
    _health_until(node.url, "ok", 30)
    again = httpx.post(node.url + "/v1/txs", content=_attest(node), params={"wait_ms": 15_000},
                       headers=MSGPACK, timeout=20)
    assert again.json()["txs"][0]["status"] == "committed"
