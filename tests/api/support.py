"""Helpers shared by the HTTP API, SDK and CLI behaviour tests.

Everything here talks to a real node over loopback HTTP; nothing of the project is mocked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec

from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import SignedTx, encode_signed
from consortia.sdk.client import build_tx, tx_id_of
from tests.conftest import RunningNode, free_port, start_node_server

JSON = {"content-type": "application/json"}
MSGPACK = {"content-type": "application/msgpack"}
# Long enough for any block on a loaded CI machine; a committed tx answers at once.
WAIT_MS = 10_000


@contextmanager
def serving(data_dir: Path, **config: object) -> Iterator[RunningNode]:
    """A demo node on loopback HTTP for the duration of the block."""
    running, server, thread = start_node_server(data_dir, **config)
    try:
        yield running
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(10)


def fresh_digest() -> str:
    """A SHA-256-shaped digest no other test attests."""
    return os.urandom(32).hex()


def attest_tx(node: RunningNode, key: SigningKey | None = None, digest: str | None = None,
              **kw: Any) -> SignedTx:
    """A signed notary.attest tx (by founder "harbor" unless ``key`` is given)."""
    signer = key if key is not None else node.keys["harbor"]
    return build_tx(signer, node.genesis.chain_id, "notary.attest",
                    {"digest": digest if digest is not None else fresh_digest()}, **kw)


def batch_body(stxs: Sequence[SignedTx]) -> bytes:
    """The documented batch wire form: a msgpack list of signed txs, each item being the
    msgpack encoding of one signed tx (built here by hand, not with the SDK's encoder)."""
    return msgspec.msgpack.encode([msgspec.Raw(encode_signed(s)) for s in stxs])


def post_json(http: httpx.Client, stx: SignedTx, wait_ms: int = 0) -> httpx.Response:
    return http.post("/v1/tx", params={"wait_ms": wait_ms}, content=msgspec.json.encode(stx),
                     headers=JSON)


def post_msgpack(http: httpx.Client, stx: SignedTx, wait_ms: int = 0) -> httpx.Response:
    return http.post("/v1/tx", params={"wait_ms": wait_ms}, content=encode_signed(stx),
                     headers=MSGPACK)


def post_batch(http: httpx.Client, body: bytes, wait_ms: int = 0) -> httpx.Response:
    return http.post("/v1/txs", params={"wait_ms": wait_ms}, content=body, headers=MSGPACK)


def commit(http: httpx.Client, stx: SignedTx) -> dict[str, Any]:
    """Submit one tx, wait for its execution, and return its committed status."""
    response = post_msgpack(http, stx, wait_ms=WAIT_MS)
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    assert status["status"] == "committed", status
    return status


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is a clear error: ``status``, JSON ``{"code", "message", ...}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    return body


def sth(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/v1/sth")
    assert response.status_code == 200, response.text
    head: dict[str, Any] = response.json()
    return head


def assert_nothing_changed(http: httpx.Client, node: RunningNode,
                           before: dict[str, Any]) -> None:
    """The ledger is where it was before a refused request, and nothing of it was queued.

    A probe tx then shows that no refused tx was waiting in the mempool either: the next block
    holds the probe alone and drops nothing.
    """
    assert sth(http) == before
    assert http.get("/healthz").json()["mempool_txs"] == 0
    probe = attest_tx(node)
    commit(http, probe)
    after = sth(http)
    assert after["tree_size"] == before["tree_size"] + 1
    assert after["height"] == before["height"] + 1
    block = http.get(f"/v1/blocks/{after['height']}").json()
    assert block["tx_ids"] == [tx_id_of(probe)]
    assert block["dropped"] == 0


def free_url() -> str:
    """The URL of a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def loopback(url: str) -> httpx.Client:
    """A client of a node on loopback (plain HTTP, so no TLS context is built)."""
    return httpx.Client(base_url=url, timeout=30, verify=False)
