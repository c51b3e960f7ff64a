"""Deterministic execution: every rule of the executor, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from consortia.crypto.keys import SigningKey
from consortia.crypto.merkle import verify_consistency
from consortia.ledger.chain import ChainError
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.ledger.replay import replay
from consortia.ledger.tx import Envelope, encode_signed
from consortia.sdk.client import build_tx
from tests.ledger.helpers import (
    CHAIN_ID,
    GENESIS_MS,
    attest,
    env,
    genesis,
    keys,
    open_chain,
)

NODE_KEY = SigningKey(bytes([9]) * 32)
MEMBERS = keys(3)
G = genesis(MEMBERS, NODE_KEY)
T = GENESIS_MS + 1_000


@pytest.fixture
def chain(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = open_chain(tmp_path / "ledger.sqlite", G, NODE_KEY)
    yield c
    c.store.close()


def test_every_executed_tx_gets_a_leaf_and_a_verifiable_receipt(chain) -> None:  # type: ignore[no-untyped-def]
    envs = [env(attest(MEMBERS[0], i, now_ms=T)) for i in range(5)]
    committed = chain.apply_batch(1, T, envs)
    assert committed is not None and committed.block.tree_size == 5
    for e in envs:
        receipt = chain.receipt(e.tx_id)
        verify_receipt(receipt, NODE_KEY.public_key)
        assert receipt["result"]["status"] == "accepted"


def test_a_tx_twice_in_one_batch_and_again_later_executes_once(chain) -> None:  # type: ignore[no-untyped-def]
    e = env(attest(MEMBERS[0], 1, now_ms=T))
    committed = chain.apply_batch(1, T, [e, env(attest(MEMBERS[0], 1, now_ms=T))])
    assert committed is not None and committed.block.tree_size == 1
    assert chain.apply_batch(2, T + 10, [env(attest(MEMBERS[0], 1, now_ms=T))]) is None
    assert chain.sth.tree_size == 1


def test_an_expired_tx_is_rejected_and_changes_nothing(chain) -> None:  # type: ignore[no-untyped-def]
    stale = env(attest(MEMBERS[0], 1, now_ms=T - 120_000, valid_for_ms=60_000))
    before = dict(chain.state.items)
    committed = chain.apply_batch(1, T, [stale])
    assert committed is not None
    assert committed.block.results[0].code == "expired"
    assert chain.state.items == before


def test_an_expired_tx_resubmitted_long_after_is_not_recorded_again(chain) -> None:  # type: ignore[no-untyped-def]
    e = env(attest(MEMBERS[0], 1, now_ms=T, valid_for_ms=1_000))
    chain.apply_batch(1, T, [e])
    # Past its expiry the id may leave the in-memory window; SQLite still knows it.
    chain.recent.clear()
    assert chain.apply_batch(2, T + 10_000, [env(attest(MEMBERS[0], 1, now_ms=T,
                                                        valid_for_ms=1_000))]) is None


def test_validity_beyond_the_parameter_is_rejected(chain) -> None:  # type: ignore[no-untyped-def]
    far = env(attest(MEMBERS[0], 1, now_ms=T, valid_for_ms=10 * 3_600_000))
    committed = chain.apply_batch(1, T, [far])
    assert committed is not None and committed.block.results[0].code == "validity_too_long"


def test_bad_signature_and_other_chains_are_dropped_without_a_leaf(chain) -> None:  # type: ignore[no-untyped-def]
    good = attest(MEMBERS[0], 1, now_ms=T)
    forged = msgspec.structs.replace(good, signature="00" * 64)
    other_chain = attest(MEMBERS[0], 2, now_ms=T, chain_id="other")
    committed = chain.apply_batch(1, T, [env(forged), env(other_chain), b"\x00garbage"])
    assert committed is None and chain.sth.tree_size == 0
    # The forged copy did not use up the genuine tx's id.
    committed = chain.apply_batch(2, T, [env(good)])
    assert committed is not None and committed.block.results[0].status == "accepted"


def test_unknown_kind_and_bad_payload_are_rejected_with_codes(chain) -> None:  # type: ignore[no-untyped-def]
    unknown = build_tx(MEMBERS[0], CHAIN_ID, "nothing.here", {}, now_ms=T)
    bad = build_tx(MEMBERS[0], CHAIN_ID, "notary.attest", {"digest": 5}, now_ms=T)
    committed = chain.apply_batch(1, T, [env(unknown), env(bad)])
    assert committed is not None
    assert [r.code for r in committed.block.results] == ["unknown_kind", "bad_payload"]


def test_device_credentials_are_refused_until_certification_admits_them(chain) -> None:  # type: ignore[no-untyped-def]
    from consortia.ledger.tx import DeviceCredential

    device = DeviceCredential("aa" * 32, "p1", "m", "1", "bb" * 32, "cc" * 64)
    stx = build_tx(MEMBERS[0], CHAIN_ID, "notary.attest", {"digest": "ab" * 32}, now_ms=T,
                   device=device)
    committed = chain.apply_batch(1, T, [env(stx)])
    assert committed is not None and committed.block.results[0].code == "device_not_admitted"


def test_block_time_never_goes_back(chain) -> None:  # type: ignore[no-untyped-def]
    first = chain.apply_batch(1, T + 5_000, [env(attest(MEMBERS[0], 1, now_ms=T))])
    second = chain.apply_batch(2, T, [env(attest(MEMBERS[0], 2, now_ms=T))])
    assert first is not None and second is not None
    assert second.block.time_ms == first.block.time_ms == T + 5_000


def test_restart_keeps_state_tree_and_dedupe_window(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    chain = open_chain(path, G, NODE_KEY)
    e = env(attest(MEMBERS[0], 1, now_ms=T))
    chain.apply_batch(1, T, [e])
    sth = chain.sth
    chain.store.close()
    again = open_chain(path, G, NODE_KEY)
    assert again.sth == sth and again.state.items == chain.state.items
    assert again.apply_batch(2, T + 1, [env(attest(MEMBERS[0], 1, now_ms=T))]) is None
    verify_receipt(again.receipt(e.tx_id), NODE_KEY.public_key)


def test_a_store_of_another_genesis_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    open_chain(path, G, NODE_KEY).store.close()
    with pytest.raises(ChainError, match="genesis differs"):
        open_chain(path, genesis(keys(4), NODE_KEY), NODE_KEY)


def test_consistency_proofs_link_every_pair_of_tree_heads(chain) -> None:  # type: ignore[no-untyped-def]
    heads = []
    for b in range(1, 8):
        chain.apply_batch(b, T + b, [env(attest(MEMBERS[0], 10 * b + i, now_ms=T))
                                     for i in range(b)])
        heads.append(chain.sth)
    for a in heads:
        for b in heads:
            if a.tree_size <= b.tree_size:
                proof = chain.consistency_proof(a.tree_size, b.tree_size)
                assert verify_consistency(a.tree_size, b.tree_size, a.root_hash, b.root_hash,
                                          proof)


def test_a_receipt_checked_against_another_node_key_fails(chain) -> None:  # type: ignore[no-untyped-def]
    e = env(attest(MEMBERS[0], 1, now_ms=T))
    chain.apply_batch(1, T, [e])
    with pytest.raises(ReceiptError, match="another node key"):
        verify_receipt(chain.receipt(e.tx_id), MEMBERS[1].public_key)


def test_replay_of_the_stored_blocks_reproduces_results_heads_and_state(chain) -> None:  # type: ignore[no-untyped-def]
    proposal = build_tx(MEMBERS[0], CHAIN_ID, "governance.propose",
                        {"action": {"type": "set_parameter", "name": "regulator_veto",
                                    "value": True}}, now_ms=T)
    chain.apply_batch(1, T, [env(proposal)] + [env(attest(MEMBERS[1], i, now_ms=T))
                                               for i in range(20)])
    pid = Envelope(proposal).tx_id.hex()
    votes = [env(build_tx(k, CHAIN_ID, "governance.vote",
                          {"proposal_id": pid, "approve": True}, now_ms=T)) for k in MEMBERS]
    chain.apply_batch(2, T + 1, votes)
    report = replay(chain.store, G, chain.executor, NODE_KEY.public_key)
    assert report.blocks == 2 and report.txs == 24


def test_raw_msgpack_items_execute_like_envelopes(chain) -> None:  # type: ignore[no-untyped-def]
    raw = encode_signed(attest(MEMBERS[0], 1, now_ms=T))
    committed = chain.apply_batch(1, T, [raw])
    assert committed is not None and committed.block.results[0].accepted
