"""The lab's host simulator answers a device in the node's wire forms, records every request,
and can lose an answer while still executing the tx."""

from __future__ import annotations

import threading
import time

import httpx
import msgspec

from consortia.conformance.host import HostSimulator
from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import encode_signed
from consortia.sdk.client import build_tx, tx_id_of

CHAIN = "lab-chain"


def _charge(chain_id: str = CHAIN) -> tuple[bytes, str]:
    stx = build_tx(SigningKey.generate(), chain_id, "payments.charge_cpm", {"amount": "1.00"})
    return encode_signed(stx), tx_id_of(stx)


def _post(http: httpx.Client, body: bytes) -> httpx.Response:
    return http.post("/v1/tx", content=body, headers={"content-type": "application/msgpack"})


def test_a_tx_is_answered_committed_and_its_status_can_be_asked_for() -> None:
    with HostSimulator(CHAIN) as host, httpx.Client(base_url=host.url, timeout=5) as http:
        mark = host.mark()
        body, tx_id = _charge()
        answer = _post(http, body)
        assert answer.status_code == 200
        assert answer.json()["tx_id"] == tx_id
        assert answer.json()["status"] == "committed"
        assert answer.json()["result"]["status"] == "accepted"
        assert http.get(f"/v1/tx/{tx_id}").json() == answer.json()
        assert http.get(f"/v1/tx/{'0' * 64}").json()["code"] == "unknown_tx"
        assert http.get("/v1/chain").json() == {"chain_id": CHAIN}
        [submission] = host.submissions_since(mark)
        assert submission.tx_id == tx_id and submission.raw == body
        assert host.queries_since(mark) == [tx_id, "0" * 64]


def test_malformed_and_foreign_txs_are_refused_and_recorded() -> None:
    with HostSimulator(CHAIN) as host, httpx.Client(base_url=host.url, timeout=5) as http:
        assert _post(http, b"\x93garbage").json()["code"] == "malformed"
        foreign, _ = _charge("another-chain")
        assert _post(http, foreign).status_code == 400
        json_body = http.post("/v1/tx", content=msgspec.json.encode({"tx": 1}),
                              headers={"content-type": "application/json"})
        assert json_body.status_code == 400
        assert [bool(s.error) for s in host.submissions] == [True, True, True]


def test_a_held_answer_is_lost_but_the_tx_is_executed() -> None:
    with HostSimulator(CHAIN) as host:
        host.hold_next_answer(10)
        body, tx_id = _charge()
        lost: list[str] = []

        def submit() -> None:
            try:
                with httpx.Client(base_url=host.url, timeout=0.3) as http:
                    _post(http, body)
            except httpx.TimeoutException:
                lost.append("timeout")

        thread = threading.Thread(target=submit)
        started = time.monotonic()
        thread.start()
        thread.join(5)
        assert lost == ["timeout"] and time.monotonic() - started < 2
        with httpx.Client(base_url=host.url, timeout=5) as http:
            assert http.get(f"/v1/tx/{tx_id}").json()["status"] == "committed"
            host.release()
            # The next submission is answered at once again.
            again, _ = _charge()
            assert _post(http, again).status_code == 200
        assert [s.held for s in host.submissions] == [True, False]
