"""Nodes compare signed tree heads with their peers and raise an alarm when ledgers diverge.

Real nodes of one genesis, each behind a real uvicorn server on loopback, are fed the same
ordered batches by calling ``chain.apply_batch`` exactly as an orderer delivers them (solo
ordering would stamp different times on each node). Nothing is submitted over HTTP, so each
node's own cutter stays idle and the test is the only writer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import FOUNDERS, member_key
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.ledger.tx import encode_signed
from consortia.node.agreement import Agreement
from consortia.node.config import NodeConfig
from consortia.node.node import Node
from consortia.node.orderer import now_ms
from consortia.node.server import build_node, make_server
from consortia.sdk.client import build_tx, tx_id_of
from tests.conftest import free_port

CHAIN_ID = "agreement-test"
INTERVAL_MS = 100
# Generous: the machine is shared, and a round only needs a few local requests.
WAIT_S = 20.0


@dataclass
class Served:
    name: str
    url: str
    node: Node
    server: uvicorn.Server
    app: FastAPI
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    own_agreement: Agreement | None  # started by the test when the app does not start one

    def peers(self) -> dict[str, dict[str, Any]]:
        body = httpx.get(self.url + "/v1/peers", timeout=10).json()
        return {p["url"]: p for p in body["peers"]}

    def agreement(self) -> Agreement:
        found = self.own_agreement or getattr(self.app.state, "agreement", None)
        assert isinstance(found, Agreement)
        return found


@dataclass
class Consortium:
    base: Path
    genesis: Genesis
    keys: dict[str, SigningKey]  # founders' member keys
    nodes: dict[str, Served]


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _serve(name: str, config: NodeConfig, genesis: Genesis) -> Served:
    node = build_node(config, genesis)
    server = make_server(node)
    app = server.config.app
    assert isinstance(app, FastAPI)
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True, name=name)
    thread.start()
    wait_until(f"node {name} to serve", lambda: server.started or not thread.is_alive())
    assert server.started, f"node {name} did not start"
    own: Agreement | None = None
    # Once the app's lifespan starts an Agreement itself, that one is used.
    if getattr(app.state, "agreement", None) is None and config.peers:
        own = Agreement(node)

        async def start() -> None:
            assert own is not None
            own.start(asyncio.get_running_loop())

        asyncio.run_coroutine_threadsafe(start(), loops[0]).result(10)
        app.state.agreement = own
    return Served(name, f"http://127.0.0.1:{config.port}", node, server, app, thread, loops[0],
                  own)


def _stop(served: Served) -> None:
    if served.own_agreement is not None and served.thread.is_alive():
        asyncio.run_coroutine_threadsafe(served.own_agreement.stop(), served.loop).result(10)
    served.server.should_exit = True
    served.thread.join(10)


@contextmanager
def consortium(base: Path, peers: dict[str, list[str]], listed: tuple[str, ...] = ("a", "b"),
               ) -> Iterator[Consortium]:
    """Nodes named by ``peers``' keys on one genesis, where only ``listed`` are genesis nodes.
    A peer entry is another node's name, or a URL as it is."""
    keys = {f.id: member_key(base / "members", f.id) for f in FOUNDERS}
    node_keys = {n: SigningKey.load_or_create(base / n / "node.key") for n in peers}
    operators = [f.id for f in FOUNDERS]
    genesis = Genesis(
        chain_id=CHAIN_ID, time_ms=now_ms(),
        members=[GenesisMember(f.id, f.name, f.role, keys[f.id].public_key_hex)
                 for f in FOUNDERS],
        nodes=[GenesisNode(f"node-{n}", operators[i % len(operators)],
                           node_keys[n].public_key_hex) for i, n in enumerate(listed)],
    )
    ports = {n: free_port() for n in peers}
    urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    served: dict[str, Served] = {}
    try:
        for name, names in peers.items():
            config = NodeConfig(node_id=f"node-{name}", data_dir=base / name, port=ports[name],
                                peers=[urls.get(p, p) for p in names],
                                agreement_interval_ms=INTERVAL_MS, verify_threads=1)
            served[name] = _serve(name, config, genesis)
        yield Consortium(base, genesis, keys, served)
    finally:
        for s in served.values():
            _stop(s)


def attest_raws(keys: dict[str, SigningKey], tag: str, count: int, time_ms: int,
                ) -> list[bytes]:
    """``count`` signed notary attestations, the same bytes whoever calls with the same tag."""
    return [
        encode_signed(build_tx(keys["harbor"], CHAIN_ID, "notary.attest",
                               {"digest": hashlib.sha256(f"{tag} {i}".encode()).hexdigest()},
                               nonce=i, now_ms=time_ms))
        for i in range(count)
    ]


def feed(nodes: list[Served], seq: int, raws: list[bytes], time_ms: int) -> None:
    """Deliver one ordered batch to each node, as an orderer would: same seq, time and txs."""
    for s in nodes:
        assert s.node.chain.apply_batch(seq, time_ms, list(raws)) is not None


def metric(url: str, name: str) -> float | None:
    text = httpx.get(url + "/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return None if match is None else float(match.group(1))


def rounds_pass(served: Served, count: int = 2) -> None:
    """Wait until ``count`` more agreement rounds finished on ``served``."""
    target = served.agreement().rounds + count
    wait_until(f"{count} rounds on {served.name}", lambda: served.agreement().rounds >= target)


# -- tests -----------------------------------------------------------------------------------


def test_nodes_fed_the_same_batches_agree_even_when_one_is_ahead(tmp_path: Path) -> None:
    with consortium(tmp_path, {"a": ["b"], "b": ["a"]}) as c:
        a, b = c.nodes["a"], c.nodes["b"]
        t = now_ms()
        feed([a, b], 1, attest_raws(c.keys, "one", 3, t), t)
        feed([a, b], 2, attest_raws(c.keys, "two", 2, t + 5), t + 5)
        wait_until("a agrees with b at 2",
                   lambda: a.peers()[b.url]["status"] == "agrees"
                   and a.peers()[b.url]["height"] == 2)
        wait_until("b agrees with a at 2",
                   lambda: b.peers()[a.url]["status"] == "agrees"
                   and b.peers()[a.url]["height"] == 2)
        seen = a.peers()[b.url]
        assert seen["node_id"] == "node-b"
        assert seen["node_key"] == b.node.key.public_key_hex
        assert seen["peer_height"] == 2 and seen["last_checked_ms"] is not None

        # a runs ahead: a compares b's head with its own block 2, b asks a for a's block 2.
        feed([a], 3, attest_raws(c.keys, "three", 1, t + 9), t + 9)
        wait_until("b sees a at 3", lambda: b.peers()[a.url]["peer_height"] == 3)
        rounds_pass(a)
        rounds_pass(b)
        assert b.peers()[a.url]["status"] == "agrees"
        assert b.peers()[a.url]["height"] == 2  # compared at b's height, a's block 2
        assert a.peers()[b.url]["status"] == "agrees"
        assert a.peers()[b.url]["height"] == 2

        health = httpx.get(a.url + "/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert [p["status"] for p in health.json()["peers"]] == ["agrees"]
        assert metric(a.url, "consortia_peers_diverged") == 0
        assert metric(b.url, f'consortia_peer_height{{peer="{a.url}"}}') == 3
        agrees = metric(a.url, 'consortia_agreement_checks_total{result="agrees"}')
        assert agrees is not None and agrees >= 1
        assert metric(a.url, 'consortia_agreement_checks_total{result="diverged"}') is None


def test_a_different_batch_at_the_same_seq_makes_both_report_divergence(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="consortia.node.agreement")
    with consortium(tmp_path, {"a": ["b"], "b": ["a"]}) as c:
        a, b = c.nodes["a"], c.nodes["b"]
        t = now_ms()
        feed([a, b], 1, attest_raws(c.keys, "same", 2, t), t)
        wait_until("agreement at 1", lambda: a.peers()[b.url]["status"] == "agrees"
                   and b.peers()[a.url]["status"] == "agrees")
        # Same seq and time, different txs: what a faulty orderer or a tampered node yields.
        feed([a], 2, attest_raws(c.keys, "left", 2, t + 1), t + 1)
        feed([b], 2, attest_raws(c.keys, "right", 2, t + 1), t + 1)
        wait_until("a sees b diverged", lambda: a.peers()[b.url]["status"] == "diverged")
        wait_until("b sees a diverged", lambda: b.peers()[a.url]["status"] == "diverged")
        seen = a.peers()[b.url]
        assert seen["height"] == 2
        assert "at height 2" in seen["detail"]
        assert a.node.chain.sth_at(2).root_hash.hex() in seen["detail"]  # type: ignore[union-attr]

        for s in (a, b):
            health = httpx.get(s.url + "/healthz", timeout=10)
            assert health.status_code == 503
            body = health.json()
            assert body["status"] == "degraded"
            assert [p["status"] for p in body["peers"]] == ["diverged"]
            assert "diverged" in body["reason"]
            assert metric(s.url, "consortia_peers_diverged") == 1

        # Sticky: both ledgers now grow alike again, and the alarm stays up all the same.
        feed([a, b], 3, attest_raws(c.keys, "after", 1, t + 2), t + 2)
        rounds_pass(a, 3)
        assert a.peers()[b.url]["status"] == "diverged"
        assert a.peers()[b.url]["height"] == 2
        assert httpx.get(a.url + "/healthz", timeout=10).status_code == 503
        # One ERROR line per node for the change, not one per round.
        errors = [r for r in caplog.records if r.levelno == logging.ERROR
                  and "diverged" in r.getMessage() and b.url in r.getMessage()]
        assert len(errors) == 1


def test_unknown_key_and_dead_peer_are_reported_without_degrading_health(
        tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with consortium(tmp_path, {"a": ["b", "x", dead], "b": ["a"], "x": []}) as c:
        a, b, x = c.nodes["a"], c.nodes["b"], c.nodes["x"]
        t = now_ms()
        feed([a, b, x], 1, attest_raws(c.keys, "all", 2, t), t)
        wait_until("all three peers checked", lambda: all(
            p["status"] != "unchecked" for p in a.peers().values()))
        wait_until("b agrees", lambda: a.peers()[b.url]["status"] == "agrees")
        peers = a.peers()
        # x runs the same chain, but governance never admitted its key: never compared.
        assert peers[x.url]["status"] == "unknown_peer"
        assert peers[x.url]["node_key"] == x.node.key.public_key_hex
        assert peers[x.url]["node_id"] is None and peers[x.url]["height"] is None
        assert peers[dead]["status"] == "unreachable"
        assert "ConnectError" in peers[dead]["detail"]
        health = httpx.get(a.url + "/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert metric(a.url, "consortia_peers_diverged") == 0
        unknown = metric(a.url, 'consortia_agreement_checks_total{result="unknown_peer"}')
        assert unknown is not None and unknown >= 1
        # A node without peers still answers /healthz as it always did.
        assert "peers" not in httpx.get(x.url + "/healthz", timeout=10).json()
        assert httpx.get(x.url + "/v1/peers", timeout=10).json() == {"peers": []}


def test_a_node_removed_by_governance_is_no_longer_compared(tmp_path: Path) -> None:
    with consortium(tmp_path, {"a": ["b"], "b": ["a"]}) as c:
        a, b = c.nodes["a"], c.nodes["b"]
        t = now_ms()
        feed([a, b], 1, attest_raws(c.keys, "before", 1, t), t)
        wait_until("b agrees", lambda: a.peers()[b.url]["status"] == "agrees")
        propose = build_tx(c.keys["harbor"], CHAIN_ID, "governance.propose",
                           {"action": {"type": "remove_node", "id": "node-b"}}, now_ms=t)
        pid = tx_id_of(propose)
        votes = [build_tx(c.keys[m], CHAIN_ID, "governance.vote",
                          {"proposal_id": pid, "approve": True}, now_ms=t)
                 for m in ("arcadia-cb", "harbor", "lotus")]
        feed([a, b], 2, [encode_signed(s) for s in [propose, *votes]], t + 1)
        wait_until("b unknown", lambda: a.peers()[b.url]["status"] == "unknown_peer")
        assert "not an active node" in a.peers()[b.url]["detail"]
        assert httpx.get(a.url + "/healthz", timeout=10).status_code == 200


def test_a_tree_head_signed_by_another_key_is_a_bad_signature(tmp_path: Path) -> None:
    with consortium(tmp_path, {"a": ["b"], "b": ["a"]}) as c:
        a, b = c.nodes["a"], c.nodes["b"]
        wait_until("b agrees at genesis", lambda: a.peers()[b.url]["status"] == "agrees")
        # b's operator swaps in a key governance does not know, while still publishing the
        # old one in /v1/chain: a's cached key no longer verifies what b signs.
        b.node.chain.node_key = SigningKey.generate()
        t = now_ms()
        feed([a, b], 1, attest_raws(c.keys, "x", 1, t), t)
        wait_until("bad signature", lambda: a.peers()[b.url]["status"] == "bad_signature")
        health = httpx.get(a.url + "/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        assert metric(a.url, "consortia_peers_diverged") == 0  # an alarm, not a divergence
