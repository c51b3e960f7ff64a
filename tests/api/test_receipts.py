"""Receipts, signed tree heads and consistency proofs, checked as an outside verifier would.

The STH signature and the leaf are recomputed here from their documented definitions (PyNaCl,
hashlib, json) rather than with the project's helpers, so a change of format shows up.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import struct
from collections.abc import Callable
from typing import Any

import httpx
import nacl.exceptions
import nacl.signing
import pytest

from consortia.crypto.keys import SigningKey
from consortia.crypto.merkle import leaf_hash, verify_consistency, verify_inclusion
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.sdk.client import build_tx, tx_id_of
from tests.api.support import attest_tx, commit, loopback, sth
from tests.conftest import RunningNode

RECEIPT_KEYS = {"tx_id", "leaf", "leaf_index", "tree_size", "audit_path", "root_hash",
                "signed_tree_head", "result"}
STH_KEYS = {"tree_size", "root_hash", "height", "time_ms", "signature", "node_key"}
RESULT_KEYS = {"status", "code", "message", "kind", "height", "time_ms", "data"}


def _hex(value: Any, size: int) -> bool:
    return isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{2 * size}}}", value) is not None


def _sth_message(head: dict[str, Any]) -> bytes:
    return (b"consortia/sth/v1" + struct.pack(">Q", head["tree_size"])
            + bytes.fromhex(head["root_hash"]) + struct.pack(">Q", head["height"])
            + struct.pack(">Q", head["time_ms"]))


def _check_sth_signature(head: dict[str, Any], node_key_hex: str) -> None:
    """Raises nacl BadSignatureError unless the node signed exactly this tree head."""
    assert head["node_key"] == node_key_hex
    nacl.signing.VerifyKey(bytes.fromhex(node_key_hex)).verify(
        _sth_message(head), bytes.fromhex(head["signature"]))


def _result_digest(result: dict[str, Any]) -> bytes:
    # RFC 8785 for what results hold (ASCII keys, strings, integers, bools, null).
    canonical = json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(b"consortia/result/v1" + canonical.encode()).digest()


def _receipt(http: httpx.Client, tx_id: str) -> dict[str, Any]:
    response = http.get(f"/v1/tx/{tx_id}/receipt")
    assert response.status_code == 200, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


@pytest.fixture(scope="module")
def receipt(node: RunningNode) -> dict[str, Any]:
    """The receipt of a tx in a tree of several leaves (so its audit path is not empty)."""
    with loopback(node.url) as http:
        for _ in range(4):
            commit(http, attest_tx(node))
        stx = attest_tx(node)
        commit(http, stx)
        commit(http, attest_tx(node))
        return _receipt(http, tx_id_of(stx))


def test_receipt_has_exactly_the_documented_fields_as_lower_case_hex(
        receipt: dict[str, Any]) -> None:
    assert set(receipt) == RECEIPT_KEYS
    assert set(receipt["signed_tree_head"]) == STH_KEYS
    assert set(receipt["result"]) == RESULT_KEYS
    assert _hex(receipt["tx_id"], 32)
    assert _hex(receipt["leaf"], 64)
    assert _hex(receipt["root_hash"], 32)
    assert receipt["audit_path"]
    assert all(_hex(p, 32) for p in receipt["audit_path"])
    head = receipt["signed_tree_head"]
    assert _hex(head["root_hash"], 32)
    assert _hex(head["signature"], 64)
    assert _hex(head["node_key"], 32)
    for name in ("tree_size", "height", "time_ms"):
        assert isinstance(head[name], int) and head[name] >= 0
    assert 0 <= receipt["leaf_index"] < receipt["tree_size"]


def test_receipt_tree_size_and_root_are_the_signed_tree_heads(
        receipt: dict[str, Any]) -> None:
    head = receipt["signed_tree_head"]
    assert receipt["tree_size"] == head["tree_size"]
    assert receipt["root_hash"] == head["root_hash"]


def test_receipt_leaf_is_tx_id_then_result_digest(receipt: dict[str, Any]) -> None:
    leaf = bytes.fromhex(receipt["leaf"])
    assert leaf[:32].hex() == receipt["tx_id"]
    assert leaf[32:] == _result_digest(receipt["result"])


def test_receipt_audit_path_leads_to_the_signed_root(node: RunningNode,
                                                     receipt: dict[str, Any]) -> None:
    assert verify_inclusion(leaf_hash(bytes.fromhex(receipt["leaf"])), receipt["leaf_index"],
                            receipt["tree_size"],
                            [bytes.fromhex(p) for p in receipt["audit_path"]],
                            bytes.fromhex(receipt["root_hash"]))
    _check_sth_signature(receipt["signed_tree_head"], node.node.key.public_key_hex)
    verify_receipt(receipt, node.node.key.public_key)


def test_receipt_signed_tree_head_is_one_the_node_published(
        http: httpx.Client, receipt: dict[str, Any]) -> None:
    head = receipt["signed_tree_head"]
    assert http.get(f"/v1/sth/{head['height']}").json() == head


def _tamper_result(r: dict[str, Any]) -> None:
    r["result"]["status"] = "rejected"


def _tamper_path(r: dict[str, Any]) -> None:
    r["audit_path"][0] = "00" * 32


def _tamper_index(r: dict[str, Any]) -> None:
    r["leaf_index"] = (r["leaf_index"] + 1) % r["tree_size"]


def _tamper_sth_time(r: dict[str, Any]) -> None:
    r["signed_tree_head"]["time_ms"] += 1


def _tamper_root(r: dict[str, Any]) -> None:
    r["root_hash"] = "00" * 32


@pytest.mark.parametrize("tamper", [_tamper_result, _tamper_path, _tamper_index,
                                    _tamper_sth_time, _tamper_root],
                         ids=["result", "audit_path", "leaf_index", "sth_time", "root_hash"])
def test_tampered_receipt_does_not_verify(node: RunningNode, receipt: dict[str, Any],
                                          tamper: Callable[[dict[str, Any]], None]) -> None:
    forged = copy.deepcopy(receipt)
    tamper(forged)
    with pytest.raises(ReceiptError):
        verify_receipt(forged, node.node.key.public_key)


def test_receipt_does_not_verify_against_another_node_key(receipt: dict[str, Any]) -> None:
    with pytest.raises(ReceiptError):
        verify_receipt(receipt, SigningKey.generate().public_key)


@pytest.mark.parametrize("where", ["latest", "by_height", "receipt"])
def test_sth_signature_covers_domain_size_root_height_and_time(
        node: RunningNode, http: httpx.Client, receipt: dict[str, Any], where: str) -> None:
    commit(http, attest_tx(node))
    latest = sth(http)
    head = {"latest": latest,
            "by_height": http.get(f"/v1/sth/{latest['height'] - 1}").json(),
            "receipt": receipt["signed_tree_head"]}[where]
    key = node.node.key.public_key_hex
    _check_sth_signature(head, key)
    for name in ("tree_size", "height", "time_ms"):
        with pytest.raises(nacl.exceptions.BadSignatureError):
            _check_sth_signature({**head, name: head[name] + 1}, key)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        _check_sth_signature({**head, "root_hash": "00" * 32}, key)


def test_genesis_tree_head_is_signed_over_the_empty_tree(node: RunningNode,
                                                         http: httpx.Client) -> None:
    head = http.get("/v1/sth/0").json()
    assert head["tree_size"] == 0
    assert head["root_hash"] == hashlib.sha256(b"").hexdigest()
    _check_sth_signature(head, node.node.key.public_key_hex)


def test_consistency_proof_shows_a_later_tree_head_extends_an_earlier_one(
        node: RunningNode, http: httpx.Client) -> None:
    first_height = commit(http, attest_tx(node))["height"]
    for _ in range(3):
        commit(http, attest_tx(node))
    second_height = commit(http, attest_tx(node))["height"]
    key = node.node.key.public_key_hex
    first = http.get(f"/v1/sth/{first_height}").json()
    second = http.get(f"/v1/sth/{second_height}").json()
    _check_sth_signature(first, key)
    _check_sth_signature(second, key)
    response = http.get("/v1/proof/consistency",
                        params={"first": first["tree_size"], "second": second["tree_size"]})
    assert response.status_code == 200
    body = response.json()
    assert (body["first"], body["second"]) == (first["tree_size"], second["tree_size"])
    proof = [bytes.fromhex(p) for p in body["proof"]]
    first_root, second_root = bytes.fromhex(first["root_hash"]), bytes.fromhex(
        second["root_hash"])
    assert verify_consistency(first["tree_size"], second["tree_size"], first_root,
                              second_root, proof)
    # The same proof does not link the earlier head to a root the node never signed.
    assert not verify_consistency(first["tree_size"], second["tree_size"], first_root,
                                  bytes(32), proof)


def test_consistency_proof_of_equal_sizes_is_empty(node: RunningNode,
                                                   http: httpx.Client) -> None:
    size = commit(http, attest_tx(node))["leaf_index"] + 1
    body = http.get("/v1/proof/consistency", params={"first": size, "second": size}).json()
    assert body == {"first": size, "second": size, "proof": []}


def _non_member_proposal(node: RunningNode) -> Any:
    outsider = SigningKey.generate()
    return build_tx(outsider, node.genesis.chain_id, "governance.propose",
                    {"action": {"type": "set_parameter", "name": "regulator_veto",
                                "value": True}})


def _second_attestation(node: RunningNode) -> Any:
    digest = hashlib.sha256(b"an already attested document").hexdigest()
    with loopback(node.url) as http:
        first = commit(http, attest_tx(node, digest=digest))
        assert first["result"]["status"] == "accepted"
    return attest_tx(node, key=node.keys["lotus"], digest=digest)


@pytest.mark.parametrize("make, code", [
    (_non_member_proposal, "not_a_member"),
    (_second_attestation, "already_attested"),
    (lambda n: build_tx(n.keys["harbor"], n.genesis.chain_id, "notary.attest",
                        {"digest": "not a digest"}), "bad_digest"),
    (lambda n: build_tx(n.keys["harbor"], n.genesis.chain_id, "notary.attest",
                        {"digets": "typo"}), "bad_payload"),
], ids=["propose_by_non_member", "attest_twice", "bad_digest", "bad_payload"])
def test_rejected_tx_gets_a_receipt_that_says_why_and_verifies(
        node: RunningNode, http: httpx.Client, make: Callable[[RunningNode], Any],
        code: str) -> None:
    before = sth(http)
    stx = make(node)
    status = commit(http, stx)
    assert status["result"]["status"] == "rejected"
    assert status["result"]["code"] == code
    assert status["result"]["message"]
    receipt = _receipt(http, tx_id_of(stx))
    assert receipt["result"] == status["result"]
    assert receipt["leaf_index"] >= before["tree_size"]
    verify_receipt(receipt, node.node.key.public_key)
    _check_sth_signature(receipt["signed_tree_head"], node.node.key.public_key_hex)
    assert bytes.fromhex(receipt["leaf"])[32:] == _result_digest(receipt["result"])


def test_rejected_attestation_leaves_the_first_evidence_in_place(
        node: RunningNode, http: httpx.Client) -> None:
    digest = hashlib.sha256(b"first come, first attested").hexdigest()
    first = attest_tx(node, digest=digest)
    commit(http, first)
    second = commit(http, attest_tx(node, key=node.keys["lotus"], digest=digest))
    assert second["result"]["code"] == "already_attested"
    evidence = http.get(f"/v1/notary/evidence/{digest}").json()
    assert evidence["attester"] == node.keys["harbor"].public_key_hex
    assert evidence["tx_id"] == tx_id_of(first)
