"""The same signed tx submitted twice executes once: one leaf, one result."""

from __future__ import annotations

import httpx

from consortia.sdk.client import tx_id_of
from tests.api.support import (
    WAIT_MS,
    attest_tx,
    batch_body,
    commit,
    loopback,
    post_batch,
    post_json,
    post_msgpack,
    sth,
)
from tests.conftest import RunningNode


def _leaves_of(http: httpx.Client, first_height: int, tx_id: str) -> int:
    """How many blocks from ``first_height`` on list ``tx_id``."""
    last = sth(http)["height"]
    return sum(http.get(f"/v1/blocks/{h}").json()["tx_ids"].count(tx_id)
               for h in range(first_height, last + 1))


def test_replayed_tx_after_execution_reports_committed_and_executes_once(
        node: RunningNode, http: httpx.Client) -> None:
    before = sth(http)
    stx = attest_tx(node)
    tx_id = tx_id_of(stx)
    first = commit(http, stx)
    for post in (post_msgpack, post_json):
        again = post(http, stx)
        assert again.status_code == 200, again.text
        assert again.json() == {"tx_id": tx_id, "status": "committed"}
    waited = post_msgpack(http, stx, wait_ms=WAIT_MS).json()
    assert waited["leaf_index"] == first["leaf_index"]
    assert waited["result"] == first["result"]
    assert http.get("/healthz").json()["mempool_txs"] == 0
    # A later block runs; the replayed tx is not in it.
    commit(http, attest_tx(node))
    after = sth(http)
    assert after["tree_size"] == before["tree_size"] + 2
    assert _leaves_of(http, before["height"] + 1, tx_id) == 1


def test_replayed_tx_while_pending_executes_once(slow_node: RunningNode) -> None:
    with loopback(slow_node.url) as http:
        before = sth(http)
        stx = attest_tx(slow_node)
        tx_id = tx_id_of(stx)
        assert post_msgpack(http, stx).json() == {"tx_id": tx_id, "status": "pending"}
        assert post_json(http, stx).json() == {"tx_id": tx_id, "status": "pending"}
        assert http.get("/healthz").json()["mempool_txs"] == 1
        done = post_msgpack(http, stx, wait_ms=WAIT_MS).json()
        assert done["status"] == "committed"
        assert done["result"]["status"] == "accepted"
        after = sth(http)
        assert after["tree_size"] == before["tree_size"] + 1
        assert _leaves_of(http, before["height"] + 1, tx_id) == 1


def test_tx_twice_in_one_batch_executes_once(node: RunningNode, http: httpx.Client) -> None:
    before = sth(http)
    stx = attest_tx(node)
    tx_id = tx_id_of(stx)
    response = post_batch(http, batch_body([stx, stx]), wait_ms=WAIT_MS)
    assert response.status_code == 200, response.text
    txs = response.json()["txs"]
    assert [t["tx_id"] for t in txs] == [tx_id, tx_id]
    assert txs[0] == txs[1]
    assert txs[0]["status"] == "committed"
    assert txs[0]["result"]["status"] == "accepted"
    assert sth(http)["tree_size"] == before["tree_size"] + 1
    assert _leaves_of(http, before["height"] + 1, tx_id) == 1


def test_batch_replaying_an_executed_tx_reports_it_committed(
        node: RunningNode, http: httpx.Client) -> None:
    old = attest_tx(node)
    commit(http, old)
    before = sth(http)
    new = attest_tx(node)
    response = post_batch(http, batch_body([old, new]))
    assert response.status_code == 200, response.text
    statuses = [t["status"] for t in response.json()["txs"]]
    assert statuses[0] == "committed"
    commit(http, new)
    assert sth(http)["tree_size"] == before["tree_size"] + 1
    assert _leaves_of(http, before["height"] + 1, tx_id_of(old)) == 0


def test_same_tx_has_one_id_whatever_its_wire_form(node: RunningNode,
                                                   http: httpx.Client) -> None:
    stx = attest_tx(node)
    as_json = post_json(http, stx).json()
    as_msgpack = post_msgpack(http, stx, wait_ms=WAIT_MS).json()
    assert as_json["tx_id"] == as_msgpack["tx_id"] == tx_id_of(stx)
    assert as_msgpack["status"] == "committed"
