"""The public certification registry over HTTP, on a certificate issued by real signed txs."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import verify_receipt
from consortia.modules.certification.types import TERM_MS
from tests.api.certification.support import VENDOR, Registry, issue, send_ok, step
from tests.api.support import assert_error

PATH = "/v1/certification"
HEX64 = re.compile(r"[0-9a-f]{64}")


def get(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = http.get(f"{PATH}{path}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def node_key(http: httpx.Client) -> bytes:
    return bytes.fromhex(http.get("/v1/chain").json()["node_key"])


def assert_proven(http: httpx.Client, answer: dict[str, Any]) -> None:
    """The answer carries the receipt of its transition's tx, and it verifies offline."""
    receipt = answer["receipt"]
    assert receipt["tx_id"] == answer["transition"]["tx_id"]
    assert receipt["result"]["status"] == "accepted"
    verify_receipt(receipt, node_key(http))


def test_catalogue(http: httpx.Client) -> None:
    types = get(http, "/product-types")["product_types"]
    codes = [t["code"] for t in types]
    assert "POS" in codes and len(codes) >= 11
    pos = next(t for t in types if t["code"] == "POS")
    assert pos["name_en"] and pos["standards"] and pos["test_items"][0]["id"]


def test_search_finds_the_certificate(http: httpx.Client, registry: Registry) -> None:
    for params in ({}, {"vendor": VENDOR}, {"product_type": "POS"}, {"status": "valid"},
                   {"vendor": VENDOR, "product_type": "POS", "status": "valid"},
                   {"expires_before_ms": registry.issued_ms + TERM_MS + 1}):
        found = get(http, "/certificates", **params)
        assert registry.number in [c["number"] for c in found["certificates"]], params
    for params in ({"vendor": "globex"}, {"product_type": "ATM"}, {"status": "revoked"},
                   {"expires_before_ms": registry.issued_ms + TERM_MS}):
        found = get(http, "/certificates", **params)
        assert registry.number not in [c["number"] for c in found["certificates"]], params
    one = get(http, "/certificates", limit=1)
    assert len(one["certificates"]) == 1 and one["next_after"] == one["certificates"][0]["id"]


def test_search_is_bounded(http: httpx.Client, registry: Registry) -> None:
    found = get(http, "/certificates", limit=10**9)
    assert len(found["certificates"]) <= registry.node.node.config.page_size_max


def test_show_has_fields_and_history(http: httpx.Client, registry: Registry) -> None:
    for ref in (registry.number, registry.application):
        cert = get(http, f"/certificates/{ref}")
        assert cert["number"] == registry.number and cert["id"] == registry.application
        assert cert["status"] == "valid" and cert["usable"] is True
        assert cert["vendor"] == VENDOR and cert["body"] == "fcc" and cert["lab"] == "lab1"
        assert cert["versions"] == ["1.0.0"]
        assert cert["expires_ms"] == registry.issued_ms + TERM_MS
        history = cert["history"]
        assert [h["action"] for h in history] == ["apply", "accept", "assign_lab",
                                                  "test_report", "onsite_check", "decide"]
        assert [h["to"] for h in history][-1] == "valid"
        assert history[0]["from"] == "draft"
        assert all(HEX64.fullmatch(h["tx_id"]) for h in history)
        assert history[0]["tx_id"] == registry.application


def test_valid_at_before_and_after_issue(http: httpx.Client, registry: Registry) -> None:
    number = registry.number
    before = get(http, f"/certificates/{number}/valid-at", time_ms=registry.issued_ms - 1)
    assert before["valid"] is False and before["status"] == "onsite_passed"
    assert before["transition"]["action"] == "onsite_check"
    assert_proven(http, before)

    after = get(http, f"/certificates/{number}/valid-at", time_ms=registry.issued_ms)
    assert after["number"] == number and after["time_ms"] == registry.issued_ms
    assert after["valid"] is True and after["status"] == "valid"
    assert after["transition"]["action"] == "decide"
    assert after["transition"]["time_ms"] == registry.issued_ms
    assert_proven(http, after)

    expired = get(http, f"/certificates/{number}/valid-at",
                  time_ms=registry.issued_ms + TERM_MS)
    assert expired["valid"] is False and expired["status"] == "expired"
    assert_proven(http, expired)

    never = get(http, f"/certificates/{number}/valid-at", time_ms=0)
    assert never == {"number": number, "id": registry.application, "time_ms": 0,
                     "valid": False, "status": None, "transition": None, "receipt": None}


def test_a_suspension_ends_validity_from_its_block(http: httpx.Client,
                                                   registry: Registry) -> None:
    with registry.node.client() as client:
        _, number = issue(client, registry.body, registry.lab, registry.vendor, "SP-200")
        issued_ms = client.get(f"{PATH}/certificates/{number}")["issued_ms"]
        send_ok(client, registry.body, "suspend",
                step(number, "defect", correction_deadline_ms=issued_ms + 30 * 86_400_000))
    now = http.get("/v1/sth").json()["time_ms"]
    answer = get(http, f"/certificates/{number}/valid-at", time_ms=now)
    assert answer["valid"] is False and answer["status"] == "suspended"
    assert answer["transition"]["action"] == "suspend"
    assert_proven(http, answer)
    # History is kept: at its issue it was valid, and that is still provable.
    earlier = get(http, f"/certificates/{number}/valid-at", time_ms=issued_ms)
    assert earlier["valid"] is True and earlier["transition"]["action"] == "decide"
    assert_proven(http, earlier)
    shown = get(http, f"/certificates/{number}")
    assert shown["status"] == "suspended" and shown["usable"] is False
    assert shown["history"][-1]["action"] == "suspend"
    suspended = get(http, "/certificates", status="suspended")["certificates"]
    assert number in [c["number"] for c in suspended]
    assert registry.number not in [c["number"] for c in suspended]


def test_devices_and_vendor(http: httpx.Client, registry: Registry) -> None:
    device = SigningKey.generate().public_key_hex
    with registry.node.client() as client:
        send_ok(client, registry.vendor, "register_device",
                {"device_key": device, "certificate": registry.number, "model": "SP-100",
                 "version": "1.0.0"})
    listed = get(http, f"/certificates/{registry.number}/devices")
    assert device in [d["device_key"] for d in listed["devices"]]
    assert listed["status"] == "valid"
    bounded = get(http, f"/certificates/{registry.number}/devices", limit=10**9)
    assert bounded["limit"] <= registry.node.node.config.page_size_max
    one = get(http, f"/devices/{device}")
    assert one["certificate"] == registry.number and one["model"] == "SP-100"
    assert one["certificate_status"] == "valid" and one["admitted"] is True
    vendor = get(http, f"/vendors/{VENDOR}")
    assert vendor["id"] == VENDOR and vendor["key"] == registry.vendor.public_key_hex
    assert registry.number in [c["number"] for c in vendor["certificates"]]


@pytest.mark.parametrize(("path", "code"), [
    ("/certificates/CFP-1999-000001", "unknown_certificate"),
    ("/certificates/CFP-1999-000001/valid-at?time_ms=1", "unknown_certificate"),
    ("/certificates/CFP-1999-000001/devices", "unknown_certificate"),
    (f"/devices/{'0' * 64}", "unknown_device"),
    ("/vendors/nobody", "unknown_vendor"),
])
def test_unknown_is_404(http: httpx.Client, path: str, code: str) -> None:
    assert_error(http.get(f"{PATH}{path}"), 404, code)


@pytest.mark.parametrize("query", [
    "", "?time_ms=", "?time_ms=-1", "?time_ms=abc", "?time_ms=1.5", f"?time_ms={2**63}",
])
def test_bad_time_is_400(http: httpx.Client, registry: Registry, query: str) -> None:
    assert_error(http.get(f"{PATH}/certificates/{registry.number}/valid-at{query}"), 400,
                 "bad_request")


@pytest.mark.parametrize(("params", "code"), [
    ({"status": "shiny"}, "bad_status"),
    ({"limit": 0}, "bad_request"),
    ({"expires_before_ms": -1}, "bad_request"),
    ({"after": "x" * 101}, "bad_request"),
])
def test_bad_search_is_400(http: httpx.Client, params: dict[str, Any], code: str) -> None:
    assert_error(http.get(f"{PATH}/certificates", params=params), 400, code)


def test_no_signature_needed(http: httpx.Client, registry: Registry) -> None:
    """The registry is public: plain GETs answer; nothing private is in them."""
    cert = get(http, f"/certificates/{registry.number}")
    assert "key" not in cert
