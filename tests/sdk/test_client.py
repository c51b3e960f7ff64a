"""The Python SDK against a real node: send, verify, wait, errors."""

from __future__ import annotations

import copy
import os
import time

import pytest

from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.sdk import Client, ConsortiaError
from consortia.sdk.client import tx_id_of
from tests.api.support import attest_tx, fresh_digest
from tests.conftest import RunningNode


def test_send_returns_result_and_verified_receipt(node: RunningNode) -> None:
    digest = fresh_digest()
    with node.client() as client:
        result, receipt = client.send(node.keys["harbor"], "notary.attest", {"digest": digest})
        assert result["status"] == "accepted"
        assert result["data"] == {"digest": digest}
        assert receipt["result"] == result
        verify_receipt(receipt, node.node.key.public_key)
        assert client.tx(receipt["tx_id"])["status"] == "committed"
        assert client.receipt(receipt["tx_id"])["leaf"] == receipt["leaf"]


def test_send_without_a_pinned_key_verifies_against_the_nodes_own(node: RunningNode) -> None:
    with Client(node.url) as client:
        result, receipt = client.send(node.keys["lotus"], "notary.attest",
                                      {"digest": fresh_digest()})
        assert result["status"] == "accepted"
        assert receipt["signed_tree_head"]["node_key"] == node.node.key.public_key_hex


def test_send_of_a_rejected_tx_returns_its_verified_rejection(node: RunningNode) -> None:
    with node.client() as client:
        outsider = SigningKey.generate()
        result, receipt = client.send(outsider, "governance.vote",
                                      {"proposal_id": "00" * 32, "approve": True})
        assert result["status"] == "rejected"
        assert result["code"] == "not_a_member"
        client.verify(receipt)


def test_verify_with_the_wrong_node_key_raises_receipt_error(node: RunningNode) -> None:
    with node.client() as client:
        _, receipt = client.send(node.keys["harbor"], "notary.attest",
                                 {"digest": fresh_digest()})
        client.verify(receipt)
        other = SigningKey.generate().public_key_hex
        with pytest.raises(ReceiptError, match="another node key"):
            client.verify(receipt, node_key=other)
    with Client(node.url, node_key=other) as pinned:
        with pytest.raises(ReceiptError):
            pinned.verify(receipt)
        # A client that pins another key refuses what this node sends back.
        with pytest.raises(ReceiptError):
            pinned.send(node.keys["harbor"], "notary.attest", {"digest": fresh_digest()})


def test_verify_of_a_tampered_receipt_raises_receipt_error(node: RunningNode) -> None:
    with node.client() as client:
        _, receipt = client.send(node.keys["harbor"], "notary.attest",
                                 {"digest": fresh_digest()})
        forged = copy.deepcopy(receipt)
        forged["result"]["data"]["digest"] = fresh_digest()
        with pytest.raises(ReceiptError, match="result"):
            client.verify(forged)


@pytest.mark.parametrize("field", ["tree_size", "height", "time_ms"])
def test_verify_of_a_receipt_with_a_tree_head_number_beyond_u64_raises_receipt_error(
        node: RunningNode, field: str) -> None:
    with node.client() as client:
        _, receipt = client.send(node.keys["harbor"], "notary.attest",
                                 {"digest": fresh_digest()})
        forged = copy.deepcopy(receipt)
        forged["signed_tree_head"][field] = 2**64
        with pytest.raises(ReceiptError):
            client.verify(forged)


def test_verify_without_any_node_key_raises_receipt_error(node: RunningNode) -> None:
    with node.client() as client:
        _, receipt = client.send(node.keys["harbor"], "notary.attest",
                                 {"digest": fresh_digest()})
    with Client(node.url) as unpinned, pytest.raises(ReceiptError):
        unpinned.verify(receipt)


def test_wait_for_an_unknown_tx_times_out(node: RunningNode) -> None:
    with node.client() as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.wait(os.urandom(32).hex(), timeout_s=0.3)
        assert time.monotonic() - started < 5


def test_wait_returns_once_the_tx_is_committed(node: RunningNode) -> None:
    with node.client() as client:
        stx = attest_tx(node)
        assert client.submit(stx)["tx_id"] == tx_id_of(stx)
        status = client.wait(tx_id_of(stx), timeout_s=10)
        assert status["status"] == "committed"
        assert status["result"]["status"] == "accepted"


def test_refused_submission_raises_consortia_error_with_code(node: RunningNode) -> None:
    with node.client() as client:
        expired = attest_tx(node, valid_for_ms=-60_000)
        with pytest.raises(ConsortiaError) as refused:
            client.submit(expired)
        assert refused.value.status == 400
        assert refused.value.code == "expired"
        assert refused.value.message
        with pytest.raises(ConsortiaError) as unknown:
            client.receipt("00" * 32)
        assert (unknown.value.status, unknown.value.code) == (404, "unknown_tx")


def test_chain_info_and_sth(node: RunningNode) -> None:
    with node.client() as client:
        assert client.chain_id == node.genesis.chain_id
        head = client.sth()
        assert head["node_key"] == node.node.key.public_key_hex
        assert head["height"] == client.info()["height"] or head["height"] >= 0


def test_submit_many_executes_every_tx(node: RunningNode) -> None:
    with node.client() as client:
        stxs = [attest_tx(node) for _ in range(4)]
        statuses = client.submit_many(stxs, wait_ms=10_000)
        assert [s["tx_id"] for s in statuses] == [tx_id_of(s) for s in stxs]
        assert all(s["status"] == "committed" for s in statuses)
        for s in statuses:
            client.verify(client.receipt(s["tx_id"]))
