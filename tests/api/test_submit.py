"""Submitting txs over HTTP and reading back their status, blocks and tree heads."""

from __future__ import annotations

import re
from typing import Any

import httpx
import msgspec
import pytest

from consortia.ledger.receipts import verify_receipt
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


@pytest.mark.parametrize("post", [post_json, post_msgpack], ids=["json", "msgpack"])
def test_one_tx_submitted_with_wait_ms_comes_back_committed_with_result(
        node: RunningNode, http: httpx.Client, post: Any) -> None:
    before = sth(http)
    stx = attest_tx(node)
    response = post(http, stx, WAIT_MS)
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["tx_id"] == tx_id_of(stx)
    assert status["status"] == "committed"
    assert status["height"] == before["height"] + 1
    assert status["leaf_index"] == before["tree_size"]
    result = status["result"]
    assert result["status"] == "accepted"
    assert result["code"] == "ok"
    assert result["kind"] == "notary.attest"
    assert result["data"] == {"digest": stx.tx.payload["digest"]}
    assert sth(http)["tree_size"] == before["tree_size"] + 1


def test_committed_tx_reads_back_with_its_result_and_signed_tx(
        node: RunningNode, http: httpx.Client) -> None:
    stx = attest_tx(node)
    committed = commit(http, stx)
    response = http.get(f"/v1/tx/{tx_id_of(stx)}")
    assert response.status_code == 200
    status = response.json()
    assert status["status"] == "committed"
    assert status["height"] == committed["height"]
    assert status["leaf_index"] == committed["leaf_index"]
    assert status["result"] == committed["result"]
    assert status["tx"] == msgspec.to_builtins(stx)


def test_tx_reads_pending_until_executed_then_committed(slow_node: RunningNode) -> None:
    with loopback(slow_node.url) as http:
        stx = attest_tx(slow_node)
        tx_id = tx_id_of(stx)
        response = post_msgpack(http, stx)
        assert response.status_code == 200
        assert response.json() == {"tx_id": tx_id, "status": "pending"}
        assert http.get(f"/v1/tx/{tx_id}").json() == {"tx_id": tx_id, "status": "pending"}
        # A receipt exists only once the tx is executed.
        assert http.get(f"/v1/tx/{tx_id}/receipt").status_code == 404
        # A short wait_ms gives up and reports the tx still pending.
        assert post_msgpack(http, stx, wait_ms=50).json()["status"] == "pending"
        done = post_msgpack(http, stx, wait_ms=WAIT_MS).json()
        assert done["status"] == "committed"
        assert done["result"]["status"] == "accepted"
        assert http.get(f"/v1/tx/{tx_id}").json()["status"] == "committed"
        assert http.get(f"/v1/tx/{tx_id}/receipt").status_code == 200


def test_batch_executes_every_tx_and_wait_ms_returns_their_results(
        node: RunningNode, http: httpx.Client) -> None:
    before = sth(http)
    stxs = [attest_tx(node) for _ in range(5)]
    response = post_batch(http, batch_body(stxs), wait_ms=WAIT_MS)
    assert response.status_code == 200, response.text
    txs = response.json()["txs"]
    assert [t["tx_id"] for t in txs] == [tx_id_of(s) for s in stxs]
    assert all(t["status"] == "committed" for t in txs)
    assert all(t["result"]["status"] == "accepted" for t in txs)
    assert sorted(t["leaf_index"] for t in txs) == list(
        range(before["tree_size"], before["tree_size"] + 5))
    assert sth(http)["tree_size"] == before["tree_size"] + 5


def test_batch_with_receipts_answers_each_committed_tx_with_a_verifying_receipt(
        node: RunningNode, http: httpx.Client) -> None:
    stxs = [attest_tx(node) for _ in range(4)]
    response = http.post("/v1/txs", params={"wait_ms": WAIT_MS, "receipts": "true"},
                         content=batch_body(stxs), headers={"content-type": "application/msgpack"})
    assert response.status_code == 200, response.text
    txs = response.json()["txs"]
    assert [t["tx_id"] for t in txs] == [tx_id_of(s) for s in stxs]
    node_key = node.node.key.public_key
    for t in txs:
        assert t["status"] == "committed"
        receipt = t["receipt"]
        verify_receipt(receipt, node_key)
        assert receipt["tx_id"] == t["tx_id"]
        assert receipt["leaf_index"] == t["leaf_index"]
        assert receipt["result"] == t["result"]
        # The same proof as the receipt route gives, up to the tree head it is against.
        later = http.get(f"/v1/tx/{t['tx_id']}/receipt").json()
        assert later["leaf"] == receipt["leaf"]
        assert later["leaf_index"] == receipt["leaf_index"]
    # Without wait_ms there is nothing to prove yet: statuses only.
    more = [attest_tx(node) for _ in range(2)]
    response = http.post("/v1/txs", params={"receipts": "true"}, content=batch_body(more),
                         headers={"content-type": "application/msgpack"})
    assert all("receipt" not in t for t in response.json()["txs"])
    for s in more:
        commit(http, s)


def test_batch_without_wait_is_acknowledged_pending(node: RunningNode,
                                                    http: httpx.Client) -> None:
    stxs = [attest_tx(node) for _ in range(3)]
    response = post_batch(http, batch_body(stxs))
    assert response.status_code == 200, response.text
    txs = response.json()["txs"]
    assert [t["tx_id"] for t in txs] == [tx_id_of(s) for s in stxs]
    assert {t["status"] for t in txs} <= {"pending", "committed"}
    for s in stxs:
        commit(http, s)


def test_block_lists_its_tx_ids_and_matches_its_tree_head(node: RunningNode,
                                                          http: httpx.Client) -> None:
    stx = attest_tx(node)
    height = commit(http, stx)["height"]
    block = http.get(f"/v1/blocks/{height}").json()
    assert block["height"] == height
    assert block["tx_ids"] == [tx_id_of(stx)]
    assert block["tx_count"] == 1
    assert block["txs"][0]["tx_id"] == tx_id_of(stx)
    head = http.get(f"/v1/sth/{height}").json()
    assert (block["tree_size"], block["root_hash"]) == (head["tree_size"], head["root_hash"])
    previous = http.get(f"/v1/blocks/{height - 1}").json()
    assert block["prev_hash"] == previous["hash"]


def test_latest_sth_is_the_tree_head_of_the_last_block(node: RunningNode,
                                                       http: httpx.Client) -> None:
    commit(http, attest_tx(node))
    head = sth(http)
    assert http.get(f"/v1/sth/{head['height']}").json() == head
    assert head["node_key"] == node.node.key.public_key_hex
    assert http.get("/v1/chain").json()["height"] == head["height"]


def test_unknown_block_and_tree_head_are_404(http: httpx.Client) -> None:
    far = sth(http)["height"] + 1000
    assert http.get(f"/v1/blocks/{far}").json()["code"] == "unknown_block"
    assert http.get(f"/v1/sth/{far}").status_code == 404


def test_healthz_reports_ok_with_height_and_tree_size(node: RunningNode,
                                                      http: httpx.Client) -> None:
    commit(http, attest_tx(node))
    head = sth(http)
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "height": head["height"],
                               "tree_size": head["tree_size"], "mempool_txs": 0}


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not in metrics"
    return float(match.group(1))


def test_metrics_are_prometheus_text_with_consortia_metrics(node: RunningNode,
                                                            http: httpx.Client) -> None:
    commit(http, attest_tx(node))
    head = sth(http)
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE consortia_height gauge" in text
    assert _metric(text, "consortia_height") == head["height"]
    assert _metric(text, "consortia_tree_size") == head["tree_size"]
    assert _metric(text, "consortia_mempool_txs") == 0
    assert _metric(text, 'consortia_txs_committed_total{status="accepted"}') >= 1
    assert _metric(text, "consortia_blocks_total") >= 1
    assert "consortia_block_seconds_bucket" in text


def test_openapi_describes_the_v1_api_and_docs_page_serves_it(http: httpx.Client) -> None:
    spec = http.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/v1/tx", "/v1/txs", "/v1/tx/{tx_id}", "/v1/tx/{tx_id}/receipt", "/v1/sth",
                 "/v1/sth/{height}", "/v1/proof/consistency", "/v1/blocks/{height}",
                 "/v1/governance/members", "/v1/governance/proposals", "/healthz", "/metrics"):
        assert path in paths, path
    assert "post" in paths["/v1/tx"]
    docs = http.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text
