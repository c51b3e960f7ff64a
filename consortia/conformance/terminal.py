"""The BARCODE_TERMINAL suite: items BT-01 to BT-07 against a terminal's HTTP endpoint.

The suite plays the consumer's wallet (it makes the consumer-presented codes the terminal's
scanner would read) and the acquirer's host (the simulator the terminal is pointed at with
``POST /lab/setup``), so it sees both what the terminal answers and what it sends.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from typing import Any

from consortia.conformance.exam import Answer, Exam, ItemFailed, require
from consortia.conformance.host import Submission
from consortia.conformance.interface import (
    BARCODE_TERMINAL,
    CHARGE_CPM,
    LAB_MERCHANT_ID,
    LAB_WALLET_ID,
)
from consortia.conformance.runner import Suite
from consortia.crypto.keys import SigningKey, verify
from consortia.ledger.tx import DeviceCredential
from consortia.modules.certification.logic import credential_message
from consortia.modules.payments.codes import make_cpm
from consortia.qr import CONSORTIA_GUID, QrError
from consortia.qr.ber import encode as ber_encode
from consortia.qr.currency import currency_numeric
from consortia.qr.mpm import decode_mpm

# The host timeout the lab configures: generous for every item but BT-07, so a slow machine
# never makes a terminal give up on an answer that is on its way; short for BT-07, so that
# item takes about a second.
SUBMIT_TIMEOUT_MS = 5_000
SUBMIT_TIMEOUT_MS_BT07 = 1_000
# How long the host holds a lost answer: well past the terminal's timeout, and within the
# suite's call timeout for the payment that waits on it.
HOLD_S = 4.0
PAYMENT_CALL_TIMEOUT_S = 8.0
CODE_VALID_MS = 120_000
CURRENCY = "CNY"


def _order_id(tag: str) -> str:
    return f"LAB-{tag}-{os.urandom(4).hex()}"


def fresh_code(exam: Exam) -> str:
    """A never-seen Consortia payment code (the payments module's single-use token), as the
    lab's test wallet shows it: signed by the wallet's key for the lab host's chain."""
    if "payer" not in exam.state:
        exam.state["payer"] = SigningKey.generate()
    payer: SigningKey = exam.state["payer"]
    return make_cpm(payer, exam.host.chain_id, LAB_WALLET_ID,
                    time.time_ns() // 1_000_000 + CODE_VALID_MS,
                    int.from_bytes(os.urandom(6), "big"))


def malformed_codes(exam: Exam) -> dict[str, str]:
    """Codes a terminal must refuse, each broken in one way."""
    valid = fresh_code(exam)
    raw = base64.b64decode(fresh_code(exam))
    b64 = base64.b64encode

    def encoded(data: bytes) -> str:
        return b64(data).decode()

    return {
        "empty": "",
        "not base64": "%%" + valid[2:],
        "duplicate tag (bad TLV)": encoded(raw + ber_encode("85", b"CPV01")),
        "truncated": encoded(raw[:-7]),
        "wrong format indicator": encoded(raw.replace(b"CPV01", b"CPV02", 1)),
        "no application": encoded(ber_encode("85", b"CPV01")),
    }


def _pay(exam: Exam, code: str, amount: str = "12.30", currency: str = CURRENCY,
         order_id: str | None = None, timeout_s: float | None = None) -> Answer:
    body = {"code": code, "amount": amount, "currency": currency,
            "order_id": order_id or _order_id("P")}
    return exam.call("POST", "/payments", json_body=body, timeout_s=timeout_s)


def _approved(exam: Exam, answer: Answer) -> dict[str, Any]:
    exam.expect(answer, 200)
    receipt = answer.json_object()
    require(receipt.get("status") == "approved",
            f"{answer.call}: receipt status is {str(receipt.get('status'))[:20]!r}, not approved")
    return receipt


def _submitted_txs(submissions: list[Submission]) -> list[Submission]:
    return [s for s in submissions if s.envelope is not None]


# -- set-up -----------------------------------------------------------------------------------

def _setup(exam: Exam, submit_timeout_ms: int) -> None:
    answer = exam.call("POST", "/lab/setup", json_body={
        "node_url": exam.host.url, "chain_id": exam.host.chain_id,
        "submit_timeout_ms": submit_timeout_ms, "merchant_id": LAB_MERCHANT_ID})
    exam.expect(answer, 200)


def prepare(exam: Exam) -> None:
    """Point the terminal at the lab's host simulator and the lab's test merchant (its
    test-host configuration)."""
    _setup(exam, SUBMIT_TIMEOUT_MS)


# -- the items ------------------------------------------------------------------------------

def bt01_health(exam: Exam) -> str:
    answer = exam.expect(exam.call("GET", "/health"), 200)
    body = answer.json_object()
    require(body.get("status") == "ok", f"GET /health says status "
            f"{str(body.get('status'))[:20]!r}, not ok")
    key = str(body.get("device_key"))
    require(len(key) == 64 and all(c in "0123456789abcdef" for c in key),
            "GET /health does not name the device key (64 hex)")
    return f"GET /health answered 200 ok in {answer.elapsed_ms} ms, device key {key[:16]}…"


def bt02_dynamic_qr(exam: Exam) -> str:
    for amount in ("12.30", "0.05", "1000.00"):
        order_id = _order_id("Q")
        answer = exam.expect(exam.call("POST", "/orders", json_body={
            "amount": amount, "currency": CURRENCY, "order_id": order_id}), 200)
        payload = answer.json_object().get("payload")
        require(isinstance(payload, str), "POST /orders gives no payload")
        try:
            decoded = decode_mpm(str(payload), strict=True)
        except QrError as exc:
            raise ItemFailed(f"the order's QR payload is not a valid EMVCo code: {exc}") from None
        additional, account = decoded.objects.get("62"), decoded.objects.get("26")
        bill = additional.get("01") if isinstance(additional, dict) else None
        merchant = ((account.get("00"), account.get("01")) if isinstance(account, dict)
                    else None)
        exam.observe("decoded order QR", order_id=order_id, initiation=decoded.initiation,
                     amount=decoded.amount, currency=decoded.currency, bill_number=bill,
                     merchant=merchant, crc=decoded.crc)
        require(decoded.initiation == "dynamic", "the order's QR code is static (01=11), not "
                "dynamic (01=12)")
        require(decoded.amount == amount, f"the QR code carries amount {decoded.amount!r} for "
                f"an order of {amount}")
        require(decoded.currency == currency_numeric(CURRENCY), f"the QR code carries currency "
                f"{decoded.currency!r}, not {currency_numeric(CURRENCY)} ({CURRENCY})")
        require(bill == order_id, f"the QR code's bill number (62.01) is {bill!r}, not the "
                "order id")
        require(merchant == (CONSORTIA_GUID, LAB_MERCHANT_ID), f"the QR code's merchant "
                f"account (26) is {merchant!r}, not the configured merchant")
    return ("3 dynamic QR codes: CRC valid, strict EMVCo, amount, bill number (62.01) and "
            "merchant (26) exact")


def bt03_code_validation(exam: Exam) -> str:
    exam.need_setup()  # an unconfigured terminal refuses every code, malformed or not
    for what, code in malformed_codes(exam).items():
        mark = exam.host.mark()
        answer = _pay(exam, code)
        sent = exam.host.submissions_since(mark)
        exam.observe("malformed code", kind=what, status=answer.status, txs_sent=len(sent))
        require(400 <= answer.status < 500, f"a {what} code was answered {answer.status}, not "
                "refused with 4xx")
        require(not sent, f"a {what} code was refused but a tx was still sent to the host")
    mark = exam.host.mark()
    _approved(exam, _pay(exam, fresh_code(exam)))
    require(len(_submitted_txs(exam.host.submissions_since(mark))) == 1,
            "a valid code was approved without exactly one tx to the host")
    return "6 malformed codes refused with 4xx and nothing sent; a valid code approved"


def _credential_ok(credential: DeviceCredential) -> bool:
    """The vendor's signature over the credential, checked as the ledger checks it
    (``certification.logic.admit_device``, steps 1 and 2)."""
    try:
        vendor, signature = bytes.fromhex(credential.vendor_key), bytes.fromhex(
            credential.signature)
    except ValueError:
        return False
    return verify(vendor, credential_message(
        credential.device_key, credential.product_id, credential.model, credential.version,
        credential.vendor_key), signature)


def bt04_signed_request(exam: Exam) -> str:
    exam.need_setup()
    code, order_id = fresh_code(exam), _order_id("S")
    mark = exam.host.mark()
    now_ms = time.time_ns() // 1_000_000
    receipt = _approved(exam, _pay(exam, code, "12.30", CURRENCY, order_id))
    sent = exam.host.submissions_since(mark)
    require(len(sent) == 1, f"one payment sent {len(sent)} requests to the host, not 1")
    submission = sent[0]
    envelope = submission.envelope
    require(envelope is not None, f"the request is not a signed tx: {submission.error}")
    assert envelope is not None
    tx = envelope.tx
    credential = tx.device
    exam.observe("signed tx", tx_id=envelope.tx_id.hex(), kind=tx.kind, signer=tx.signer,
                 content_type=submission.content_type, payload=tx.payload,
                 valid_until_ms=tx.valid_until_ms,
                 credential=None if credential is None else {
                     "device_key": credential.device_key, "product_id": credential.product_id,
                     "model": credential.model, "version": credential.version,
                     "vendor_key": credential.vendor_key})
    require(tx.kind == CHARGE_CPM, f"the tx kind is {tx.kind!r}, not {CHARGE_CPM}")
    require(tx.chain_id == exam.host.chain_id, "the tx is for another chain than the host's")
    require(envelope.verify_signature(), "the tx signature does not verify against its signer "
            "(Ed25519 over b'consortia/tx/v1' ‖ chain id ‖ canonical msgpack)")
    require(credential is not None, "the tx carries no device credential")
    assert credential is not None
    require(credential.device_key == tx.signer, "the tx is not signed by the credential's "
            "device key")
    require(_credential_ok(credential), "the device credential's vendor signature is invalid")
    if exam.vendor_key is not None:
        require(credential.vendor_key == exam.vendor_key, "the device credential is signed by "
                "another key than the applicant vendor's")
    require(tx.payload == {"merchant_id": LAB_MERCHANT_ID, "code": code, "amount": "12.30",
                           "order_id": order_id},
            "the signed payload is not {merchant_id, code, amount, order_id} as requested")
    require(tx.valid_until_ms > now_ms, "the tx had expired when it was sent")
    require(receipt.get("tx_id") == envelope.tx_id.hex(), "the receipt's tx_id is not the id "
            "of the tx sent")
    return (f"tx {envelope.tx_id.hex()[:16]}… signed by device {tx.signer[:12]}…, vendor "
            f"credential {credential.model} {credential.version} verified")


def bt05_replay(exam: Exam) -> str:
    exam.need_setup()
    code = fresh_code(exam)
    _approved(exam, _pay(exam, code))
    mark = exam.host.mark()
    again = _pay(exam, code, order_id=_order_id("R"))
    sent = exam.host.submissions_since(mark)
    exam.observe("replayed code", status=again.status, txs_sent=len(sent))
    require(400 <= again.status < 500, f"the same code scanned twice was answered "
            f"{again.status} the second time, not refused with 4xx")
    require(not sent, "the replayed code was refused but a tx was still sent to the host")
    return f"the second scan of one code was refused ({again.status}) and nothing was sent"


def bt06_amount_echo(exam: Exam) -> str:
    exam.need_setup()
    for amount, currency in (("12.30", CURRENCY), ("0.10", CURRENCY), ("1000.00", CURRENCY)):
        order_id = _order_id("E")
        mark = exam.host.mark()
        receipt = _approved(exam, _pay(exam, fresh_code(exam), amount, currency, order_id))
        txs = _submitted_txs(exam.host.submissions_since(mark))
        signed = txs[-1].envelope.tx.payload if txs and txs[-1].envelope else {}
        shown = (receipt.get("amount"), receipt.get("currency"), receipt.get("order_id"))
        exam.observe("receipt", asked=[amount, currency, order_id], shown=list(shown),
                     signed_amount=signed.get("amount"))
        require(shown == (amount, currency, order_id), f"asked {amount} {currency}, the "
                f"receipt shows {shown[0]!r} {shown[1]!r} for order {shown[2]!r}")
        require(signed.get("amount") == amount, f"asked {amount}, the signed tx says "
                f"{signed.get('amount')!r}")
    return "3 receipts echo amount, currency and order id exactly (12.30, 0.10, 1000.00)"


def bt07_timeout(exam: Exam) -> str:
    exam.need_setup()
    _setup(exam, SUBMIT_TIMEOUT_MS_BT07)
    mark = exam.host.mark()
    exam.host.hold_next_answer(HOLD_S)
    started = time.monotonic()
    try:
        answer = _pay(exam, fresh_code(exam), timeout_s=PAYMENT_CALL_TIMEOUT_S)
    finally:
        exam.host.release()
        with contextlib.suppress(ItemFailed):  # the verdict is about the payment, not this
            _setup(exam, SUBMIT_TIMEOUT_MS)
    waited_ms = round((time.monotonic() - started) * 1000)
    sent = exam.host.submissions_since(mark)
    queries = exam.host.queries_since(mark)
    txs = _submitted_txs(sent)
    require(bool(txs), "the terminal sent no tx to the host")
    first = txs[0].tx_id
    others = sorted({s.tx_id for s in txs} - {first})
    exam.observe("lost host answer", held_tx=first, submissions=[s.tx_id for s in sent],
                 status_queries=queries, terminal_status=answer.status, waited_ms=waited_ms)
    require(not others, f"after the lost answer the terminal sent {len(others)} different "
            "tx(s) for the same payment: a double charge")
    require(first in queries, "after the lost answer the terminal never asked the host for "
            f"the tx's status (GET /v1/tx/{{id}}); it answered {answer.status}")
    receipt = _approved(exam, answer)
    require(receipt.get("tx_id") == first, "the receipt names another tx than the one the host "
            "executed")
    return (f"answer held; the terminal queried the tx's status {queries.count(first)}x and "
            f"reported it approved after {waited_ms} ms, with no second tx")


SUITE = Suite(BARCODE_TERMINAL, prepare, {
    "BT-01": bt01_health,
    "BT-02": bt02_dynamic_qr,
    "BT-03": bt03_code_validation,
    "BT-04": bt04_signed_request,
    "BT-05": bt05_replay,
    "BT-06": bt06_amount_echo,
    "BT-07": bt07_timeout,
})
