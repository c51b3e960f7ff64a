"""Certificate documents (signed JSON, PDF) and the mark over HTTP, on certificates issued by
real signed txs: a genuine mark, a forged one, a superseded one and a revoked certificate's."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import verify_receipt
from consortia.modules.certification.documents import (
    DocumentError,
    verify_certificate_document,
)
from consortia.modules.certification.mark import (
    MarkError,
    mark_message,
    mark_payload,
    sign_mark,
    verify_mark_answer,
)
from consortia.qr.image import read_image
from tests.api.certification.support import VENDOR, Registry, issue, send_ok, step
from tests.api.support import assert_error
from tests.modules.certification.test_marks import another_signature

PATH = "/v1/certification"


def get(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = http.get(f"{PATH}{path}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def node_key(http: httpx.Client) -> bytes:
    return bytes.fromhex(http.get("/v1/chain").json()["node_key"])


def publish(registry: Registry, number: str, signature: str | None = None) -> str:
    signature = signature or sign_mark(registry.body, number, VENDOR)
    with registry.node.client() as client:
        send_ok(client, registry.body, "publish_mark",
                {"certificate": number, "signature": signature})
    return signature


def check(http: httpx.Client, payload: str) -> dict[str, Any]:
    return get(http, "/marks/check", payload=payload)


def another_certificate(registry: Registry, model: str) -> str:
    with registry.node.client() as client:
        _, number = issue(client, registry.body, registry.lab, registry.vendor, model=model)
    return number


# -- documents ----------------------------------------------------------------------------------

def test_the_signed_certificate_verifies_and_proves_its_issue(http: httpx.Client,
                                                              registry: Registry) -> None:
    body = get(http, f"/certificates/{registry.number}/certificate.json")
    key = node_key(http)
    verify_certificate_document(body, key)
    document = body["document"]
    assert document["number"] == registry.number and document["status"] == "valid"
    assert document["holder"]["vendor"] == VENDOR
    assert document["product"]["type_name_zh"] == "支付销售点(POS)终端"
    assert document["issuing_body"]["id"] == "fcc" and document["issued_ms"] == \
        registry.issued_ms
    assert document["as_of"] == {"height": body["sth"]["height"],
                                 "time_ms": body["sth"]["time_ms"]}
    assert [t["to"] for t in document["history"]][-1] == "valid"
    receipt = http.get(f"/v1/tx/{document['issue_tx']}/receipt").json()
    verify_receipt(receipt, key)
    assert receipt["result"]["kind"] == "certification.decide"
    assert receipt["result"]["data"]["number"] == registry.number


@pytest.mark.parametrize(("tamper", "why"), [
    (lambda b: b["document"].update(status="revoked"), "document signature is invalid"),
    (lambda b: b["document"]["holder"].update(name="Someone Else"), "signature is invalid"),
    (lambda b: b["sth"].update(tree_size=b["sth"]["tree_size"] + 1), "tree head"),
    (lambda b: b.update(signature="00" * 64), "document signature is invalid"),
    (lambda b: b.update(signature="xyz"), "64 bytes"),
    (lambda b: b.pop("document"), "no document"),
    (lambda b: b["document"].update(version=2), "version"),
])
def test_a_tampered_certificate_does_not_verify(http: httpx.Client, registry: Registry,
                                                tamper: Any, why: str) -> None:
    body = copy.deepcopy(get(http, f"/certificates/{registry.number}/certificate.json"))
    tamper(body)
    with pytest.raises(DocumentError, match=why):
        verify_certificate_document(body, node_key(http))


def test_a_certificate_signed_by_another_key_does_not_verify(http: httpx.Client,
                                                             registry: Registry) -> None:
    body = get(http, f"/certificates/{registry.number}/certificate.json")
    with pytest.raises(DocumentError, match="another node key"):
        verify_certificate_document(body, SigningKey.generate().public_key)


def test_the_certificate_pdf(http: httpx.Client, registry: Registry) -> None:
    response = http.get(f"{PATH}/certificates/{registry.number}/certificate.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and b"%%EOF" in response.content[-64:]
    assert 1_000 < len(response.content) < 2_000_000


def test_documents_of_unknown_certificates_and_applications(http: httpx.Client,
                                                            registry: Registry) -> None:
    with registry.node.client() as client:
        applied = send_ok(client, registry.vendor, "apply", {
            "body": "fcc", "product_type": "POS", "product_name": "SmartPOS", "model": "SP-9",
            "version": "1.0.0", "manufacturer": "Acme", "factory": "Acme Factory",
            "scope": "card acceptance", "standards": ["JR/T 0001"],
            "evidence": "ab" * 32})
    application = applied["data"]["certificate"]
    for suffix in ("certificate.json", "certificate.pdf", "mark", "mark.png"):
        assert_error(http.get(f"{PATH}/certificates/CFP-1999-000001/{suffix}"), 404,
                     "unknown_certificate")
        assert_error(http.get(f"{PATH}/certificates/{application}/{suffix}"), 404,
                     "not_issued")
    # An issued certificate's application id finds its document.
    by_id = get(http, f"/certificates/{registry.application}/certificate.json")
    assert by_id["document"]["number"] == registry.number


# -- the mark -----------------------------------------------------------------------------------

def test_a_published_mark_is_genuine_and_valid_with_a_proof(http: httpx.Client,
                                                            registry: Registry) -> None:
    number = another_certificate(registry, "SP-200")
    before = get(http, f"/certificates/{number}/mark")
    assert before["mark"] is None and before["payload"] is None
    assert before["allowed_contexts"] == ["logo", "product_label"]
    assert_error(http.get(f"{PATH}/certificates/{number}/mark.svg"), 404, "no_mark")
    signature = publish(registry, number)
    shown = get(http, f"/certificates/{number}/mark")
    payload = shown["payload"]
    assert payload == mark_payload(registry.url, number, signature)
    assert shown["mark"]["signature"] == signature and shown["mark"]["body"] == "fcc"

    png = http.get(f"{PATH}/certificates/{number}/mark.png")
    assert png.headers["content-type"] == "image/png"
    assert read_image(png.content) == [payload]
    svg = http.get(f"{PATH}/certificates/{number}/mark.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content

    answer = check(http, payload)
    assert (answer["genuine"], answer["superseded"], answer["valid"], answer["status"]) == (
        True, False, True, "valid")
    verify_mark_answer(answer, payload, node_key(http))
    assert answer["proof"]["publication"]["result"]["data"]["mark"] == signature
    with pytest.raises(MarkError, match="another node key"):
        verify_mark_answer(answer, payload, SigningKey.generate().public_key)
    # The mark checks at any node: only the path and the signature matter.
    elsewhere = check(http, payload.replace(registry.url, "https://other.example"))
    assert elsewhere["valid"] and elsewhere["number"] == number

    # A declared use shows with the mark.
    with registry.node.client() as client:
        send_ok(client, registry.vendor, "declare_mark_use",
                {"certificate": number, "context": "logo", "description": "beside our logo"})
    assert [u["context"] for u in get(http, f"/certificates/{number}/mark")["uses"]] == ["logo"]


def test_a_forged_mark_is_not_genuine(http: httpx.Client, registry: Registry) -> None:
    forged = sign_mark(SigningKey.generate(), registry.number, VENDOR)
    payload = mark_payload(registry.url, registry.number, forged)
    answer = check(http, payload)
    assert (answer["genuine"], answer["valid"], answer["status"]) == (False, False, "valid")
    assert "forged" in answer["reason"] and answer["proof"]["publication"] is None
    verify_mark_answer(answer, payload, node_key(http))
    # Claiming it genuine without the proof does not verify.
    with pytest.raises(MarkError, match="signature does not verify"):
        verify_mark_answer({**answer, "genuine": True}, payload, node_key(http))


def test_a_replaced_mark_is_superseded_but_genuine(http: httpx.Client,
                                                   registry: Registry) -> None:
    number = another_certificate(registry, "SP-300")
    first = publish(registry, number)
    second = another_signature(registry.body, mark_message(
        number, VENDOR, registry.body.public_key_hex)).hex()
    publish(registry, number, second)
    old = check(http, mark_payload(registry.url, number, first))
    assert (old["genuine"], old["superseded"], old["valid"]) == (True, True, True)
    assert "superseded" in old["reason"]
    verify_mark_answer(old, mark_payload(registry.url, number, first), node_key(http))
    new = check(http, mark_payload(registry.url, number, second))
    assert (new["genuine"], new["superseded"]) == (True, False)


def test_a_revoked_certificates_mark_is_genuine_but_not_valid(http: httpx.Client,
                                                              registry: Registry) -> None:
    number = another_certificate(registry, "SP-400")
    payload = mark_payload(registry.url, number, publish(registry, number))
    with registry.node.client() as client:
        send_ok(client, registry.body, "revoke", step(number, "serious_defect"))
    answer = check(http, payload)
    assert (answer["genuine"], answer["usable"], answer["valid"], answer["status"]) == (
        True, False, False, "revoked")
    verify_mark_answer(answer, payload, node_key(http))
    transition = answer["proof"]["valid_at"]["transition"]
    assert (transition["action"], transition["to"]) == ("revoke", "revoked")
    # Claiming another status than the proof gives does not verify.
    with pytest.raises(MarkError, match="status"):
        verify_mark_answer({**answer, "status": "valid"}, payload, node_key(http))


@pytest.mark.parametrize("payload", ["", "not a mark", "https://x/cfp/mark/CFP-2025-000001",
                                     "x" * 513])
def test_a_payload_that_is_not_a_mark_is_a_clear_error(http: httpx.Client,
                                                       payload: str) -> None:
    assert_error(http.get(f"{PATH}/marks/check?payload={quote(payload)}"), 400,
                 "bad_request" if len(payload) > 512 else "bad_mark")
