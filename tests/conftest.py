"""Shared fixtures: real nodes on loopback HTTP with real SQLite files."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consortia.cluster.ports import free_ports
from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import FOUNDERS, demo_genesis, member_key
from consortia.ledger.genesis import Genesis
from consortia.node.config import NodeConfig
from consortia.node.node import Node
from consortia.node.server import build_node, make_server
from consortia.sdk.client import Client


def free_port() -> int:
    return free_ports(1)[0]


@dataclass
class RunningNode:
    url: str
    node: Node
    data_dir: Path
    genesis: Genesis
    keys: dict[str, SigningKey]

    def client(self) -> Client:
        return Client(self.url, node_key=self.node.key.public_key_hex)


def start_node_server(data_dir: Path, **config: object,
                      ) -> tuple[RunningNode, object, threading.Thread]:
    genesis = demo_genesis(data_dir)
    cfg = NodeConfig(data_dir=data_dir, port=free_port(), **config)  # type: ignore[arg-type]
    node = build_node(cfg, genesis)
    server = make_server(node)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("node server did not start")
        time.sleep(0.02)
    keys = {i.id: member_key(data_dir, i.id) for i in FOUNDERS}
    running = RunningNode(f"http://127.0.0.1:{cfg.port}", node, data_dir, genesis, keys)
    return running, server, thread


@pytest.fixture
def running_node(tmp_path: Path) -> Iterator[RunningNode]:
    """A fresh demo node (founders only, no demo txs) serving real HTTP."""
    running, server, thread = start_node_server(tmp_path / "node")
    yield running
    server.should_exit = True  # type: ignore[attr-defined]
    thread.join(10)
