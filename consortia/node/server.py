"""Run a node behind uvicorn."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

import uvicorn

from consortia.api.app import create_app
from consortia.crypto.keys import SigningKey
from consortia.ledger.genesis import Genesis, load_genesis
from consortia.modules import default_modules
from consortia.node.config import NodeConfig
from consortia.node.node import Node


def build_node(config: NodeConfig, genesis: Genesis | None = None) -> Node:
    """A node from its config: genesis and key files are read (the key made on first use)."""
    genesis = genesis if genesis is not None else load_genesis(config.genesis_path)
    key = SigningKey.load_or_create(config.key_path)
    if config.ordering == "solo":
        return Node(config, genesis, key, default_modules())
    from consortia.node.etcd_orderer import EtcdOrderer

    # The etcd window waits for every active node of the consortium to have stored a batch.
    holder: list[Node] = []

    def window_nodes() -> list[str]:
        from consortia.modules.governance.queries import nodes

        return [n.id for n in nodes(holder[0].chain.state) if n.status == "active"]

    orderer = EtcdOrderer(config, genesis.chain_id, window_nodes)
    node = Node(config, genesis, key, default_modules(), orderer)
    holder.append(node)
    return node


def make_server(node: Node) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(node), host=node.config.host, port=node.config.port, log_level="warning",
        loop="uvloop", http="httptools", timeout_keep_alive=30,
        limit_concurrency=1_000, backlog=512,
    )
    return uvicorn.Server(config)


def serve(node: Node, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; ``on_ready`` runs in a thread once the port is open."""
    server = make_server(node)
    # The state and Merkle tree loaded at start are millions of long-lived objects that never
    # become garbage: move them out of the collector's sight, so its full passes stop pausing
    # requests (60-110 ms each with a 100,000-certificate registry, docs/certification.md).
    gc.collect()
    gc.freeze()
    if on_ready is not None:
        def wait_then_call() -> None:
            while not server.started:
                if server.should_exit:
                    return
                time.sleep(0.05)
            on_ready()

        threading.Thread(target=wait_then_call, name="on-ready", daemon=True).start()
    server.run()
