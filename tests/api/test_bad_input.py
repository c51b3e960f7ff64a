"""Bad input gets a clear 4xx ``{"code", "message"}`` and changes nothing.

Every refused submission is followed by ``assert_nothing_changed``: same signed tree head, an
empty mempool, and a next block that holds only a probe tx.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from consortia.ledger.tx import SignedTx, encode_signed, signing_message
from consortia.sdk.client import build_tx, tx_id_of
from tests.api.support import (
    JSON,
    MSGPACK,
    assert_error,
    assert_nothing_changed,
    attest_tx,
    batch_body,
    commit,
    fresh_digest,
    post_batch,
    serving,
    sth,
)
from tests.conftest import RunningNode

SUBMIT_TXS_MAX = 3
REQUEST_BYTES_MAX = 4096
TX_BYTES_MAX = 2048
VALIDITY_MS_MAX = 600_000  # the default of parameter tx_validity_ms_max


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """Small limits, so that crossing them takes small requests."""
    with serving(tmp_path_factory.mktemp("limits") / "node", submit_txs_max=SUBMIT_TXS_MAX,
                 request_bytes_max=REQUEST_BYTES_MAX, tx_bytes_max=TX_BYTES_MAX) as running:
        yield running


def _as_dict(stx: SignedTx) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(stx)
    return out


def _flip_hex(text: str, at: int = 0) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1:]


def _missing_field(node: RunningNode) -> bytes:
    body = _as_dict(attest_tx(node))
    del body["tx"]["nonce"]
    return json.dumps(body).encode()


def _unknown_field(node: RunningNode) -> bytes:
    body = _as_dict(attest_tx(node))
    body["tx"]["memo"] = "not part of a tx"
    return json.dumps(body).encode()


def _unknown_top_level_field(node: RunningNode) -> bytes:
    body = _as_dict(attest_tx(node))
    body["comment"] = "not part of a signed tx"
    return json.dumps(body).encode()


def _flipped_signature(node: RunningNode) -> bytes:
    body = _as_dict(attest_tx(node))
    body["signature"] = _flip_hex(body["signature"])
    return json.dumps(body).encode()


def _signature_not_hex(node: RunningNode) -> bytes:
    body = _as_dict(attest_tx(node))
    body["signature"] = "zz" + body["signature"][2:]
    return json.dumps(body).encode()


def _signer_is_another_key(node: RunningNode) -> bytes:
    # Signed by harbor, but naming lotus as the signer.
    stx = attest_tx(node)
    tx = msgspec.structs.replace(stx.tx, signer=node.keys["lotus"].public_key_hex)
    signature = node.keys["harbor"].sign(signing_message(tx)).hex()
    return msgspec.json.encode(SignedTx(tx=tx, signature=signature))


def _signature_of_another_key(node: RunningNode) -> bytes:
    # Naming harbor as the signer, with lotus's signature of the very same tx.
    stx = attest_tx(node)
    signature = node.keys["lotus"].sign(signing_message(stx.tx)).hex()
    return msgspec.json.encode(SignedTx(tx=stx.tx, signature=signature))


def _expired(node: RunningNode) -> bytes:
    return msgspec.json.encode(attest_tx(node, valid_for_ms=-60_000))


def _valid_too_long(node: RunningNode) -> bytes:
    return msgspec.json.encode(attest_tx(node, valid_for_ms=VALIDITY_MS_MAX + 60_000))


def _wrong_chain(node: RunningNode) -> bytes:
    return msgspec.json.encode(build_tx(node.keys["harbor"], "another-chain", "notary.attest",
                                        {"digest": fresh_digest()}))


def _unknown_kind(node: RunningNode) -> bytes:
    return msgspec.json.encode(build_tx(node.keys["harbor"], node.genesis.chain_id,
                                        "notary.forge", {"digest": fresh_digest()}))


def _kind_without_module(node: RunningNode) -> bytes:
    return msgspec.json.encode(build_tx(node.keys["harbor"], node.genesis.chain_id, "attest",
                                        {"digest": fresh_digest()}))


BAD_TXS: dict[str, tuple[Callable[[RunningNode], bytes], int, str]] = {
    "malformed_json": (lambda _: b'{"tx": {"chain_id": ', 400, "malformed"),
    "json_not_an_object": (lambda _: b"[1, 2, 3]", 400, "malformed"),
    "empty_body": (lambda _: b"", 400, "malformed"),
    "missing_field": (_missing_field, 400, "malformed"),
    "unknown_field": (_unknown_field, 400, "malformed"),
    "unknown_top_level_field": (_unknown_top_level_field, 400, "malformed"),
    "one_hex_char_of_signature_flipped": (_flipped_signature, 400, "bad_signature"),
    "signature_not_hex": (_signature_not_hex, 400, "bad_signature"),
    "signer_is_another_key": (_signer_is_another_key, 400, "bad_signature"),
    "signature_of_another_key": (_signature_of_another_key, 400, "bad_signature"),
    "expired": (_expired, 400, "expired"),
    "valid_too_long": (_valid_too_long, 400, "validity_too_long"),
    "wrong_chain": (_wrong_chain, 400, "wrong_chain"),
    "unknown_kind": (_unknown_kind, 400, "unknown_kind"),
    "kind_without_module": (_kind_without_module, 400, "malformed"),
    "tx_too_large": (lambda n: msgspec.json.encode(build_tx(
        n.keys["harbor"], n.genesis.chain_id, "notary.attest",
        {"digest": fresh_digest(), "label": "x" * TX_BYTES_MAX})), 413, "too_large"),
}


@pytest.mark.parametrize("case", list(BAD_TXS))
def test_bad_json_tx_is_refused_with_code_and_changes_nothing(
        node: RunningNode, http: httpx.Client, case: str) -> None:
    make, status, code = BAD_TXS[case]
    before = sth(http)
    response = http.post("/v1/tx", params={"wait_ms": 1_000}, content=make(node),
                         headers=JSON)
    assert_error(response, status, code)
    assert_nothing_changed(http, node, before)


@pytest.mark.parametrize("case", ["expired", "one_hex_char_of_signature_flipped",
                                  "wrong_chain", "unknown_kind"])
def test_bad_msgpack_tx_is_refused_like_its_json_form(
        node: RunningNode, http: httpx.Client, case: str) -> None:
    make, status, code = BAD_TXS[case]
    before = sth(http)
    as_msgpack = msgspec.msgpack.encode(msgspec.json.decode(make(node)))
    response = http.post("/v1/tx", content=as_msgpack, headers=MSGPACK)
    assert_error(response, status, code)
    assert_nothing_changed(http, node, before)


@pytest.mark.parametrize("body", [b"\xc1", b"\x92\x01", b"\x81\xa2tx\xc0", b""],
                         ids=["invalid_opcode", "truncated", "tx_is_nil", "empty"])
def test_malformed_msgpack_tx_is_refused(node: RunningNode, http: httpx.Client,
                                         body: bytes) -> None:
    before = sth(http)
    assert_error(http.post("/v1/tx", content=body, headers=MSGPACK), 400, "malformed")
    assert_nothing_changed(http, node, before)


@pytest.mark.parametrize("where", ["nonce", "payload"])
def test_integer_too_large_for_msgpack_is_refused_as_malformed(
        node: RunningNode, http: httpx.Client, where: str) -> None:
    before = sth(http)
    body = _as_dict(attest_tx(node))
    if where == "nonce":
        body["tx"]["nonce"] = 10**30
    else:
        body["tx"]["payload"]["count"] = 10**30
    response = http.post("/v1/tx", content=json.dumps(body), headers=JSON)
    assert_error(response, 400, "malformed")
    assert_nothing_changed(http, node, before)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "multipart/form-data"])
def test_tx_in_another_content_type_is_415(node: RunningNode, http: httpx.Client,
                                           content_type: str) -> None:
    before = sth(http)
    response = http.post("/v1/tx", content=msgspec.json.encode(attest_tx(node)),
                         headers={"content-type": content_type})
    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_changed(http, node, before)


def test_batch_not_sent_as_msgpack_is_415(node: RunningNode, http: httpx.Client) -> None:
    before = sth(http)
    body = json.dumps([_as_dict(attest_tx(node))])
    assert_error(http.post("/v1/txs", content=body, headers=JSON), 415,
                 "unsupported_media_type")
    assert_nothing_changed(http, node, before)


def test_negative_wait_ms_is_400(node: RunningNode, http: httpx.Client) -> None:
    before = sth(http)
    response = http.post("/v1/tx", params={"wait_ms": -1},
                         content=encode_signed(attest_tx(node)), headers=MSGPACK)
    assert_error(response, 400, "bad_request")
    assert_nothing_changed(http, node, before)


# -- batches -------------------------------------------------------------------------------

def test_batch_over_the_count_limit_is_413_too_many_txs(node: RunningNode,
                                                        http: httpx.Client) -> None:
    before = sth(http)
    body = batch_body([attest_tx(node) for _ in range(SUBMIT_TXS_MAX + 1)])
    assert len(body) < REQUEST_BYTES_MAX  # the count, not the size, is what is over
    body_json = assert_error(post_batch(http, body), 413, "too_many_txs")
    assert str(SUBMIT_TXS_MAX) in body_json["message"]
    assert_nothing_changed(http, node, before)


def test_batch_over_the_byte_limit_is_413_too_large(node: RunningNode,
                                                    http: httpx.Client) -> None:
    before = sth(http)
    big = [build_tx(node.keys["harbor"], node.genesis.chain_id, "notary.attest",
                    {"digest": fresh_digest(), "label": "x" * 1_500}) for _ in range(3)]
    body = batch_body(big)
    assert len(body) > REQUEST_BYTES_MAX
    assert_error(post_batch(http, body), 413, "too_large")
    assert_nothing_changed(http, node, before)


def test_empty_batch_is_400(node: RunningNode, http: httpx.Client) -> None:
    before = sth(http)
    assert_error(post_batch(http, msgspec.msgpack.encode([])), 400, "empty_batch")
    assert_nothing_changed(http, node, before)


@pytest.mark.parametrize("body", [b"\xc1", msgspec.msgpack.encode({"txs": []}), b""],
                         ids=["invalid_opcode", "a_map", "empty"])
def test_malformed_batch_is_400(node: RunningNode, http: httpx.Client, body: bytes) -> None:
    before = sth(http)
    assert_error(post_batch(http, body), 400, "malformed")
    assert_nothing_changed(http, node, before)


def _bad_signature(node: RunningNode) -> SignedTx:
    stx = attest_tx(node)
    return SignedTx(tx=stx.tx, signature=_flip_hex(stx.signature, 10))


@pytest.mark.parametrize("bad_at", [0, 1, 2])
@pytest.mark.parametrize("bad, code", [
    (_bad_signature, "bad_signature"),
    (lambda n: attest_tx(n, valid_for_ms=-60_000), "expired"),
    (lambda n: build_tx(n.keys["harbor"], "another-chain", "notary.attest",
                        {"digest": fresh_digest()}), "wrong_chain"),
], ids=["bad_signature", "expired", "wrong_chain"])
def test_batch_with_one_bad_tx_is_refused_whole_with_its_index(
        node: RunningNode, http: httpx.Client, bad: Callable[[RunningNode], SignedTx],
        code: str, bad_at: int) -> None:
    before = sth(http)
    stxs = [attest_tx(node) for _ in range(SUBMIT_TXS_MAX - 1)]
    stxs.insert(bad_at, bad(node))
    body = assert_error(post_batch(http, batch_body(stxs), wait_ms=1_000), 400, code)
    assert body["index"] == bad_at
    assert_nothing_changed(http, node, before)
    for s in stxs:
        assert http.get(f"/v1/tx/{tx_id_of(s)}").status_code == 404


def test_batch_of_bin_wrapped_txs_is_refused_as_malformed(node: RunningNode,
                                                          http: httpx.Client) -> None:
    """Items are signed txs themselves, not msgpack byte strings holding them."""
    before = sth(http)
    body = msgspec.msgpack.encode([encode_signed(attest_tx(node)) for _ in range(2)])
    refused = assert_error(post_batch(http, body), 400, "malformed")
    assert refused["index"] == 0
    assert_nothing_changed(http, node, before)


def test_batch_with_one_malformed_item_is_refused_with_its_index(
        node: RunningNode, http: httpx.Client) -> None:
    before = sth(http)
    not_a_tx = msgspec.msgpack.encode({"tx": None, "signature": "00" * 64})
    items = [encode_signed(attest_tx(node)), not_a_tx, encode_signed(attest_tx(node))]
    body = assert_error(post_batch(http, msgspec.msgpack.encode([msgspec.Raw(i) for i in items])),
                        400, "malformed")
    assert body["index"] == 1
    assert_nothing_changed(http, node, before)


# -- reads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tx_id", ["ab", "zz" * 32, "00" * 33, "0x" + "00" * 31],
                         ids=["short", "not_hex", "long", "prefixed"])
@pytest.mark.parametrize("suffix", ["", "/receipt"], ids=["status", "receipt"])
def test_bad_tx_id_in_path_is_400(http: httpx.Client, tx_id: str, suffix: str) -> None:
    assert_error(http.get(f"/v1/tx/{tx_id}{suffix}"), 400, "bad_tx_id")


@pytest.mark.parametrize("suffix", ["", "/receipt"], ids=["status", "receipt"])
def test_tx_id_with_whitespace_is_400(http: httpx.Client, suffix: str) -> None:
    assert_error(http.get(f"/v1/tx/{'ab' * 31}%20%20{suffix}"), 400, "bad_tx_id")


@pytest.mark.parametrize("suffix", ["", "/receipt"], ids=["status", "receipt"])
def test_unknown_tx_is_404(http: httpx.Client, suffix: str) -> None:
    assert_error(http.get(f"/v1/tx/{'00' * 32}{suffix}"), 404, "unknown_tx")


@pytest.mark.parametrize("first, second, code", [
    ("2", "1", "bad_range"),
    ("0", "1000000", "bad_range"),
    ("-1", "1", "bad_request"),
    ("a", "1", "bad_request"),
    (None, "1", "bad_request"),
], ids=["first_after_second", "second_beyond_tree", "negative", "not_a_number", "missing"])
def test_bad_consistency_range_is_400(node: RunningNode, http: httpx.Client,
                                      first: str | None, second: str, code: str) -> None:
    # The tree holds at least two leaves, so 1..2 would be a valid range.
    commit(http, attest_tx(node))
    commit(http, attest_tx(node))
    params = {"second": second} if first is None else {"first": first, "second": second}
    assert_error(http.get("/v1/proof/consistency", params=params), 400, code)


def test_unknown_route_is_404_json(http: httpx.Client) -> None:
    assert_error(http.get("/v1/no-such-thing"), 404, "not_found")


def test_refusals_are_counted_in_metrics(node: RunningNode, http: httpx.Client) -> None:
    http.post("/v1/tx", content=_expired(node), headers=JSON)
    text = http.get("/metrics").text
    assert 'consortia_submit_refused_total{code="expired"}' in text

