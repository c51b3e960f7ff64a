"""The SDK accepts a receipt only when k nodes show the same tree head at its height."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from consortia.ledger.receipts import ReceiptError
from consortia.ledger.tx import Envelope
from consortia.node.orderer import now_ms
from consortia.sdk.client import AgreementError, Client
from tests.conftest import free_port
from tests.node.test_agreement import attest_raws, consortium, feed


def tx_id(raw: bytes) -> str:
    return Envelope.from_msgpack(raw).tx_id.hex()


def test_two_agreeing_nodes_give_a_receipt_agreed_by_two(tmp_path: Path) -> None:
    with consortium(tmp_path, {"a": [], "b": []}) as c:
        a, b = c.nodes["a"], c.nodes["b"]
        t = now_ms()
        raws = attest_raws(c.keys, "agreed", 3, t)
        feed([a, b], 1, raws, t)
        with Client(a.url) as client, Client(b.url) as peer:
            out = client.receipt_agreed(tx_id(raws[1]), [b.url], k=2)
            assert out["receipt"]["tx_id"] == tx_id(raws[1])
            assert out["height"] == 1
            assert out["root_hash"] == a.node.chain.sth_at(1).root_hash.hex()  # type: ignore[union-attr]
            assert [(x["url"], x["node_id"]) for x in out["agreed"]] == [
                (a.url, "node-a"), (b.url, "node-b")]
            assert out["disagreed"] == {} and out["unreachable"] == {}
            # A Client works as a peer too, and stays open for its owner.
            again = client.receipt_agreed(tx_id(raws[0]), [peer], k=2)
            assert len(again["agreed"]) == 2
            assert peer.sth()["height"] == 1
            # k = 1 needs nobody else.
            assert len(client.receipt_agreed(tx_id(raws[2]), [], k=1)["agreed"]) == 1


def test_a_peer_still_behind_is_waited_for(tmp_path: Path) -> None:
    with consortium(tmp_path, {"a": [], "b": []}) as c:
        a, b = c.nodes["a"], c.nodes["b"]
        t = now_ms()
        raws = attest_raws(c.keys, "late", 1, t)
        feed([a], 1, raws, t)
        late = threading.Timer(0.4, feed, ([b], 1, raws, t))
        late.start()
        try:
            started = time.monotonic()
            out = Client(a.url).receipt_agreed(tx_id(raws[0]), [b.url], k=2, timeout_s=20)
            assert time.monotonic() - started >= 0.3
            assert len(out["agreed"]) == 2
        finally:
            late.join()


def test_a_diverged_peer_refuses_the_receipt_and_says_who(tmp_path: Path) -> None:
    with consortium(tmp_path, {"a": [], "b": []}) as c:
        a, b = c.nodes["a"], c.nodes["b"]
        t = now_ms()
        feed([a, b], 1, attest_raws(c.keys, "same", 1, t), t)
        mine = attest_raws(c.keys, "left", 1, t + 1)
        feed([a], 2, mine, t + 1)
        feed([b], 2, attest_raws(c.keys, "right", 1, t + 1), t + 1)
        with pytest.raises(AgreementError) as caught:
            Client(a.url).receipt_agreed(tx_id(mine[0]), [b.url], k=2)
        err = caught.value
        assert isinstance(err, ReceiptError)  # unproven, like a receipt that fails to verify
        message = str(err)
        assert "1 node(s) agree" in message and "2 required" in message
        assert f"disagreed: {b.url}" in message and "at height 2" in message
        assert [x["url"] for x in err.agreed] == [a.url]
        assert list(err.disagreed) == [b.url]
        assert err.unreachable == {} and err.k == 2


def test_k_above_the_nodes_that_can_count_fails_naming_each(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with consortium(tmp_path, {"a": [], "b": [], "x": []}) as c:
        a, b, x = c.nodes["a"], c.nodes["b"], c.nodes["x"]
        t = now_ms()
        raws = attest_raws(c.keys, "k", 1, t)
        feed([a, b, x], 1, raws, t)
        # b twice (two spellings of its URL) counts once; x's key is not a governance node.
        with pytest.raises(AgreementError) as caught:
            Client(a.url).receipt_agreed(tx_id(raws[0]), [b.url, dead, x.url, b.url + "/"],
                                         k=3, timeout_s=5)
        err = caught.value
        assert [y["url"] for y in err.agreed] == [a.url, b.url]
        assert list(err.unreachable) == [dead]
        assert "ConnectError" in err.unreachable[dead]
        assert "not an active node" in err.not_counted[x.url]
        assert "same node" in err.not_counted[b.url]
        assert "2 node(s) agree" in str(err) and "3 required" in str(err)
        assert f"unreachable: {dead}" in str(err)
        # The same peers suffice for k = 2.
        out = Client(a.url).receipt_agreed(tx_id(raws[0]), [dead, x.url, b.url], k=2)
        assert len(out["agreed"]) == 2


def test_a_peer_that_never_reaches_the_height_times_out(tmp_path: Path) -> None:
    with consortium(tmp_path, {"a": [], "b": []}) as c:
        a, b = c.nodes["a"], c.nodes["b"]
        t = now_ms()
        raws = attest_raws(c.keys, "alone", 1, t)
        feed([a], 1, raws, t)
        started = time.monotonic()
        with pytest.raises(AgreementError) as caught:
            Client(a.url).receipt_agreed(tx_id(raws[0]), [b.url], k=2, timeout_s=0.5)
        assert time.monotonic() - started < 5
        assert "no block at height 1" in caught.value.not_counted[b.url]
