"""Run a node behind uvicorn."""

from __future__ import annotations

import gc
import logging
import ssl
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from consortia.api.app import create_app
from consortia.crypto.keys import SigningKey
from consortia.ledger.genesis import Genesis, load_genesis
from consortia.modules import default_modules
from consortia.node.config import NodeConfig, peers_ssl_context
from consortia.node.node import Node
from consortia.node.pem import read_pem

log = logging.getLogger(__name__)


def _no_passphrase() -> bytes:
    raise ValueError("encrypted")  # uvicorn would prompt on the terminal for it


def tls_files(config: NodeConfig, *, warn: bool = True) -> tuple[Path, Path] | None:
    """The HTTPS certificate and key files, checked, or None for plain HTTP.

    They are read and loaded here, before uvicorn loads them in its server loop, so a missing,
    unreadable, non-PEM, encrypted or mismatched file stops the node at start with a
    ValueError naming the field (never the key's content). ``warn``: log a warning when
    group or others may read the key file.
    """
    cert, key = config.tls_cert_file, config.tls_key_file
    if cert is None and key is None:
        return None
    assert cert is not None and key is not None, "NodeConfig refuses one without the other"
    read_pem(config, "tls_cert_file")
    read_pem(config, "tls_key_file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, _no_passphrase)
    except ValueError:
        raise ValueError(f"tls_key_file {key}: encrypted with a passphrase, which the node "
                         "cannot give; store the key unencrypted, mode 0600") from None
    except ssl.SSLError as exc:
        raise ValueError(f"tls_cert_file {cert} and tls_key_file {key}: not a certificate "
                         f"and its private key ({exc.reason or exc.__class__.__name__})"
                         ) from None
    mode = stat.S_IMODE(key.stat().st_mode)
    if warn and mode & 0o044:
        log.warning("tls_key_file %s is readable by group or others (mode %o): chmod 600 it",
                    key, mode)
    return cert, key


def build_node(config: NodeConfig, genesis: Genesis | None = None) -> Node:
    """A node from its config: genesis and key files are read (the key made on first use).
    TLS files are checked first (ValueError naming the field), before anything is opened."""
    tls_files(config, warn=False)  # make_server warns about the key file's mode
    peers_ssl_context(config)
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
    """The node's uvicorn server: HTTPS when ``tls_cert_file`` and ``tls_key_file`` are set
    (ValueError naming the field when they cannot be used), plain HTTP otherwise."""
    tls = tls_files(node.config)
    config = uvicorn.Config(
        create_app(node), host=node.config.host, port=node.config.port, log_level="warning",
        loop="uvloop", http="httptools", timeout_keep_alive=30,
        limit_concurrency=1_000, backlog=512,
        ssl_certfile=None if tls is None else tls[0],
        ssl_keyfile=None if tls is None else tls[1],
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
