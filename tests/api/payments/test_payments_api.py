"""The payments read API over real HTTP: a merchant's public face, its books for the merchant,
its bank, the network and the regulator only, and a payment for its payer. The demo onboards
jade-teahouse (settling into the teahouse wallet) and has chen pay its order T-1000."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import member_key, run_demo, wallet_owner_key
from consortia.qr import decode
from tests.api.currency.support import signed_get
from tests.api.support import loopback, serving
from tests.qr.samples import EMVCO_MPM


@dataclass
class Books:
    url: str
    keys: dict[str, SigningKey]
    payment_id: str
    day_start_ms: int


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Books]:
    data_dir = tmp_path_factory.mktemp("payments-api") / "node"
    with serving(data_dir) as running, running.client() as client:
        run_demo(client, data_dir)
        keys = {m: member_key(data_dir, m) for m in ("lotus", "meridian", "harbor", "fro")}
        keys.update({w: wallet_owner_key(data_dir, w) for w in ("teahouse", "alice", "bob")})
        result, _ = client.send(keys["teahouse"], "payments.create_order", {
            "merchant_id": "jade-teahouse", "order_id": "T-1001", "amount": "18.80"})
        assert result["status"] == "accepted", result
        result, receipt = client.send(keys["alice"], "payments.pay", {
            "merchant_id": "jade-teahouse", "from_wallet": "alice", "amount": "18.80",
            "order_id": "T-1001"})
        assert result["status"] == "accepted", result
        payment_id = receipt["tx_id"]
        result, _ = client.send(keys["teahouse"], "payments.refund", {
            "payment_id": payment_id, "amount": "3.80", "reason": "no sugar"})
        assert result["status"] == "accepted", result
        time_ms = client.get("/v1/payments/merchants/jade-teahouse")["onboarded_ms"]
        yield Books(running.url, keys, payment_id, time_ms // 86_400_000 * 86_400_000)


@pytest.fixture
def http(books: Books) -> Iterator[httpx.Client]:
    with loopback(books.url) as client:
        yield client


def test_a_merchant_public_face_is_public(http: httpx.Client) -> None:
    shown = http.get("/v1/payments/merchants/jade-teahouse").json()
    assert shown == {**shown, "name": "Jade Teahouse", "city": "Lantau", "mcc": "5814",
                     "currency": "CNY", "status": "active"}
    assert "wallet_id" not in shown
    missing = http.get("/v1/payments/merchants/nobody-here")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_merchant")


@pytest.mark.parametrize("reader", ["teahouse", "meridian", "lotus", "fro"])
def test_the_books_for_those_allowed(http: httpx.Client, books: Books, reader: str) -> None:
    key = books.keys[reader]
    order = signed_get(http, key, "/v1/payments/merchants/jade-teahouse/orders/T-1001").json()
    assert (order["status"], order["amount"], order["payment_id"]) == (
        "paid", "18.80", books.payment_id)
    listed = signed_get(http, key, "/v1/payments/merchants/jade-teahouse/payments").json()
    newest, *older = listed["payments"]
    assert (newest["id"], newest["order_id"], newest["amount"], newest["refunded"]) == (
        books.payment_id, "T-1001", "18.80", "3.80")
    assert [(p["payer_wallet"], p["order_id"], p["amount"]) for p in older] == [
        ("chen", "T-1000", "28.00")]
    totals = signed_get(http, key, "/v1/payments/merchants/jade-teahouse/totals",
                        {"day_start_ms": books.day_start_ms}).json()
    assert (totals["payments"], totals["paid"], totals["refunded"], totals["net"]) == (
        2, "46.80", "3.80", "43.00")


@pytest.mark.parametrize(("reader", "status"), [(None, 401), ("bob", 403), ("harbor", 403)])
def test_the_books_are_closed_to_others(http: httpx.Client, books: Books, reader: str | None,
                                        status: int) -> None:
    key = None if reader is None else books.keys[reader]
    for path in ("/v1/payments/merchants/jade-teahouse/orders/T-1001",
                 "/v1/payments/merchants/jade-teahouse/payments",
                 "/v1/payments/merchants/jade-teahouse/terminals"):
        assert signed_get(http, key, path).status_code == status, path


def test_a_payment_is_seen_by_its_payer_and_its_refunds_listed(http: httpx.Client,
                                                               books: Books) -> None:
    path = f"/v1/payments/payments/{books.payment_id}"
    shown = signed_get(http, books.keys["alice"], path).json()
    assert (shown["payer_wallet"], shown["refunded"]) == ("alice", "3.80")
    assert [(r["amount"], r["reason"]) for r in shown["refund_list"]] == [("3.80", "no sugar")]
    assert signed_get(http, books.keys["harbor"], path).status_code == 200  # alice's bank
    assert signed_get(http, books.keys["bob"], path).status_code == 403


def test_the_static_code_is_public_and_scans_as_payable(http: httpx.Client) -> None:
    payload = http.get("/v1/payments/merchants/jade-teahouse/qr").json()["payload"]
    assert decode(payload, strict=True).initiation == "static"
    svg = http.get("/v1/payments/merchants/jade-teahouse/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    scanned = http.post("/v1/payments/scan", json={"payload": payload}).json()
    assert scanned == {**scanned, "merchant_id": "jade-teahouse", "currency": "CNY",
                       "amount": None, "payable": True, "reason": ""}


def test_an_order_code_is_for_the_books_and_a_paid_order_scans_as_not_payable(
        http: httpx.Client, books: Books) -> None:
    path = "/v1/payments/merchants/jade-teahouse/orders/T-1001/qr"
    assert signed_get(http, books.keys["bob"], path).status_code == 403
    shown = signed_get(http, books.keys["teahouse"], path).json()
    assert shown["order"]["status"] == "paid"
    scanned = http.post("/v1/payments/scan", json={"payload": shown["payload"]}).json()
    assert (scanned["amount"], scanned["order_id"], scanned["payable"], scanned["reason"]) == (
        "18.80", "T-1001", False, "order T-1001 is paid")


@pytest.mark.parametrize(("payload", "status", "code"), [
    ("garbage", 400, "unreadable_code"),
    (EMVCO_MPM.payload, 200, None),
    ("x" * 5_000, 400, None),
])
def test_scanning_other_or_bad_codes(http: httpx.Client, payload: str, status: int,
                                     code: str | None) -> None:
    response = http.post("/v1/payments/scan", json={"payload": payload})
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["code"] and response.json()["message"]
    if code is not None:
        assert response.json()["code"] == code
    if status == 200:
        assert response.json()["reason"] == "this code belongs to another payment scheme"
