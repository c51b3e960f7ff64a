"""The CFP mark on a real chain: published by the issuing body only, declared uses limited to
the contexts governance allows, misuse reports that open an inspection, and mark checks."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import nacl.bindings
import pytest

from consortia.crypto.keys import SigningKey, verify
from consortia.ledger.params import check_param, read_param
from consortia.modules.certification import queries
from consortia.modules.certification.mark import (
    MarkError,
    check_mark,
    mark_message,
    mark_payload,
    parse_mark,
    sign_mark,
)
from consortia.modules.certification.types import Mark, MarkUse, MisuseReport, mark_key
from tests.modules.certification.support import DAY_MS, KEYS, Ledger, evidence, public, step

BASE = "https://registry.example"


def another_signature(key: SigningKey, message: bytes) -> bytes:
    """A second valid Ed25519 signature of ``message`` by ``key``, made with a random nonce
    (as some signers and HSMs do): it verifies like the deterministic one but differs."""
    digest = hashlib.sha512(key.seed()).digest()
    scalar = bytearray(digest[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    secret = nacl.bindings.crypto_core_ed25519_scalar_reduce(bytes(scalar) + bytes(32))
    nonce = nacl.bindings.crypto_core_ed25519_scalar_reduce(os.urandom(64))
    point = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(nonce)
    challenge = nacl.bindings.crypto_core_ed25519_scalar_reduce(
        hashlib.sha512(point + key.public_key + message).digest())
    s = nacl.bindings.crypto_core_ed25519_scalar_add(
        nonce, nacl.bindings.crypto_core_ed25519_scalar_mul(challenge, secret))
    signature = point + s
    assert verify(key.public_key, message, signature)
    return signature


def publish(ledger: Ledger, number: str, signer: str = "cfc",
            signature: str | None = None) -> str:
    signature = signature or sign_mark(KEYS[signer], number, "acme")
    ledger.ok(signer, "certification.publish_mark",
              {"certificate": number, "signature": signature})
    return signature


def declare(context: str, number: str, description: str = "next to our logo",
            ) -> dict[str, Any]:
    return {"certificate": number, "context": context, "description": description}


def misuse(number: str, context: str = "advertising") -> dict[str, Any]:
    return {"certificate": number, "context": context,
            "description": "the mark on a billboard promoting the terminal",
            "evidence": evidence("photo of the billboard")}


def mark(ledger: Ledger, number: str) -> Mark:
    found = ledger.chain.state.get(mark_key(number), Mark)
    assert found is not None, number
    return found


def check(ledger: Ledger, number: str, signature: str) -> Any:
    return check_mark(ledger.chain.state, mark_payload(BASE, number, signature),
                      ledger.now_ms)


# -- publishing ---------------------------------------------------------------------------------

def test_the_issuing_body_publishes_a_mark_that_checks_genuine_and_valid(ledger: Ledger,
                                                                         ) -> None:
    number = ledger.issue()
    signature = publish(ledger, number)
    record = mark(ledger, number)
    assert (record.body, record.body_key, record.signature) == ("cfc", public("cfc"), signature)
    assert record.published_ms == ledger.now_ms
    result = check(ledger, number, signature)
    assert (result.genuine, result.superseded, result.valid) == (True, False, True)
    assert result.status == "valid" and result.body == "cfc" and result.vendor == "acme"
    assert result.reason == f"genuine mark of {number}; the certificate is valid"


def test_only_the_issuing_body_publishes(ledger: Ledger) -> None:
    number = ledger.issue()
    for signer in ("bctc", "acme", "stranger"):
        result = ledger.refused(signer, "certification.publish_mark",
                                {"certificate": number,
                                 "signature": sign_mark(KEYS[signer], number, "acme")})
        assert result.code == "not_allowed" and "cfc" in result.message


@pytest.mark.parametrize("kind", ["another key", "zeros", "not hex", "empty"])
def test_a_bad_signature_is_refused(ledger: Ledger, kind: str) -> None:
    number = ledger.issue()
    signature = {"another key": sign_mark(KEYS["bctc"], number, "acme"), "zeros": "00" * 64,
                 "not hex": "zz" * 64, "empty": ""}[kind]
    result = ledger.refused("cfc", "certification.publish_mark",
                            {"certificate": number, "signature": signature})
    assert result.code == "bad_signature"


def test_a_signature_for_another_certificate_or_vendor_is_refused(ledger: Ledger) -> None:
    number, other = ledger.issue(), ledger.issue(vendor="globex")
    for signature in (sign_mark(KEYS["cfc"], other, "globex"),
                      sign_mark(KEYS["cfc"], number, "globex")):
        assert ledger.refused("cfc", "certification.publish_mark",
                              {"certificate": number, "signature": signature},
                              ).code == "bad_signature"


def test_no_mark_for_a_certificate_that_is_not_usable(ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.ok("cfc", "certification.suspend",
              step(number, "failed_inspection", correction_deadline_ms=ledger.now_ms + DAY_MS))
    result = ledger.refused("cfc", "certification.publish_mark",
                            {"certificate": number,
                             "signature": sign_mark(KEYS["cfc"], number, "acme")})
    assert result.code == "certificate_not_valid" and "suspended" in result.message
    application = ledger.apply()
    assert ledger.refused("cfc", "certification.publish_mark",
                          {"certificate": application, "signature": "00" * 64},
                          ).code == "unknown_certificate"


def test_an_expired_certificate_gets_no_mark(ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.at(ledger.cert(number).expires_ms)
    assert ledger.refused("cfc", "certification.publish_mark",
                          {"certificate": number,
                           "signature": sign_mark(KEYS["cfc"], number, "acme")},
                          ).code == "certificate_not_valid"


# -- checking -----------------------------------------------------------------------------------

def test_a_mark_signed_by_another_key_is_forged(ledger: Ledger) -> None:
    number = ledger.issue()
    publish(ledger, number)
    forged = sign_mark(KEYS["stranger"], number, "acme")
    result = check(ledger, number, forged)
    assert (result.genuine, result.valid, result.status) == (False, False, "valid")
    assert "forged" in result.reason and "cfc" in result.reason


def test_a_signed_but_unpublished_mark_is_not_genuine(ledger: Ledger) -> None:
    number = ledger.issue()
    result = check(ledger, number, sign_mark(KEYS["cfc"], number, "acme"))
    assert not result.genuine and "never published" in result.reason


def test_a_replaced_mark_is_genuine_but_superseded(ledger: Ledger) -> None:
    number = ledger.issue()
    first = publish(ledger, number)
    second = another_signature(KEYS["cfc"], mark_message(number, "acme", public("cfc"))).hex()
    assert second != first
    publish(ledger, number, signature=second)
    assert mark(ledger, number).signature == second
    old, new = check(ledger, number, first), check(ledger, number, second)
    assert (old.genuine, old.superseded, old.valid) == (True, True, True)
    assert "superseded" in old.reason
    assert (new.genuine, new.superseded) == (True, False)


def test_a_genuine_mark_of_a_revoked_certificate_is_not_valid(ledger: Ledger) -> None:
    number = ledger.issue()
    signature = publish(ledger, number)
    ledger.ok("cfc", "certification.revoke", step(number, "serious_defect"))
    result = check(ledger, number, signature)
    assert (result.genuine, result.usable, result.valid) == (True, False, False)
    assert result.status == "revoked" and "revoked" in result.reason


def test_a_mark_of_an_unknown_certificate_is_not_genuine(ledger: Ledger) -> None:
    result = check(ledger, "CFP-1999-000001", "00" * 64)
    assert not result.genuine and result.status is None and "no certificate" in result.reason


@pytest.mark.parametrize(("payload", "why"), [
    ("", "1 to 512"),
    ("x" * 513, "1 to 512"),
    ("https://registry.example/cfp/certificates/CFP-2025-000001", "not a CFP mark"),
    ("https://registry.example/cfp/mark/CFP-25-1?s=" + "A" * 86, "not a CFP mark"),
    ("https://registry.example/cfp/mark/CFP-2025-000001", "s="),
    ("https://registry.example/cfp/mark/CFP-2025-000001?s=abc", "s="),
    ("https://registry.example/cfp/mark/CFP-2025-000001?s=" + "A" * 86 + "&s=" + "A" * 86,
     "s="),
    ("https://registry.example/cfp/mark/CFP-2025-000001?s=" + "A" * 85 + "B", "canonical"),
    ("http://[::1/cfp/mark/CFP-2025-000001?s=" + "A" * 86, "not a URL"),
])
def test_payloads_that_are_not_marks_say_why(payload: str, why: str) -> None:
    with pytest.raises(MarkError, match=why.replace("?", r"\?")):
        parse_mark(payload)


def test_a_mark_parses_whatever_its_host() -> None:
    signature = sign_mark(KEYS["cfc"], "CFP-2025-000001", "acme")
    for base in ("https://registry.example", "http://127.0.0.1:8080/", "consortia:"):
        parsed = parse_mark(mark_payload(base, "CFP-2025-000001", signature))
        assert (parsed.number, parsed.signature) == ("CFP-2025-000001", signature)


# -- declared uses ------------------------------------------------------------------------------

def test_the_holder_declares_uses_in_allowed_contexts(ledger: Ledger) -> None:
    number = ledger.issue()
    result = ledger.ok("acme", "certification.declare_mark_use", declare("logo", number))
    ledger.ok("acme", "certification.declare_mark_use",
              declare("product_label", number, "rating plate of SP-100"))
    uses = ledger.chain.state.records(f"certification/mark_use/{number}/", MarkUse)
    assert {u.context for u in uses} == {"logo", "product_label"}
    assert result.data["use"] in {u.id for u in uses}


def test_advertising_is_refused_until_governance_allows_it(ledger: Ledger) -> None:
    number = ledger.issue()
    result = ledger.refused("acme", "certification.declare_mark_use",
                            declare("advertising", number))
    assert result.code == "mark_context_not_allowed"
    assert "logo, product_label" in result.message
    ledger.adopt({"type": "set_parameter", "name": "cfp_mark_contexts",
                  "value": ["logo", "product_label", "advertising"]})
    assert read_param(ledger.chain.state, "cfp_mark_contexts") == [
        "logo", "product_label", "advertising"]
    ledger.ok("acme", "certification.declare_mark_use", declare("advertising", number))


def test_governance_can_withdraw_a_context(ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.adopt({"type": "set_parameter", "name": "cfp_mark_contexts", "value": []})
    result = ledger.refused("acme", "certification.declare_mark_use", declare("logo", number))
    assert result.code == "mark_context_not_allowed" and "allowed contexts: none" in \
        result.message


@pytest.mark.parametrize("value", [["logo", "logo"], ["billboard"], "logo", [1], None])
def test_the_contexts_parameter_takes_distinct_known_contexts(value: Any) -> None:
    with pytest.raises(ValueError, match="cfp_mark_contexts"):
        check_param("cfp_mark_contexts", value)


def test_only_the_holder_declares_and_only_while_usable(ledger: Ledger) -> None:
    number = ledger.issue()
    for signer in ("globex", "cfc", "stranger"):
        assert ledger.refused(signer, "certification.declare_mark_use",
                              declare("logo", number)).code == "not_allowed"
    assert ledger.refused("acme", "certification.declare_mark_use",
                          declare("logo", number, "x" * 201)).code == "bad_payload"
    ledger.ok("acme", "certification.cancel", step(number, "discontinued"))
    assert ledger.refused("acme", "certification.declare_mark_use",
                          declare("logo", number)).code == "certificate_not_valid"


# -- misuse -------------------------------------------------------------------------------------

def test_a_misuse_report_opens_an_inspection_whose_major_result_suspends(ledger: Ledger,
                                                                          ) -> None:
    number = ledger.issue()
    signature = publish(ledger, number)
    result = ledger.ok("stranger", "certification.report_mark_misuse", misuse(number))
    report_id, inspection_id = result.data["report"], result.data["inspection"]
    assert inspection_id == f"{report_id}-000" and result.data["body"] == "cfc"
    report = ledger.chain.state.get(f"certification/mark_misuse/{number}/{report_id}",
                                    MisuseReport)
    assert report is not None
    assert (report.reporter, report.context, report.inspection) == (
        public("stranger"), "advertising", inspection_id)
    inspection = queries.inspection(ledger.chain.state, inspection_id)
    assert inspection is not None
    assert (inspection.certificate, inspection.stage, inspection.body, inspection.selection,
            inspection.outcome) == (number, "in_service", "cfc", report_id, "")
    # Another body cannot close it; the issuing body finds a major nonconformity.
    assert ledger.refused("bctc", "certification.inspection_result",
                          {"inspection": inspection_id, "outcome": "major",
                           "deadline_ms": ledger.now_ms + DAY_MS,
                           "evidence": evidence("inspection")}).code == "not_allowed"
    ledger.ok("cfc", "certification.inspection_result",
              {"inspection": inspection_id, "outcome": "major",
               "deadline_ms": ledger.now_ms + 30 * DAY_MS,
               "evidence": evidence("inspection"), "reason": "mark_misuse"})
    assert ledger.status(number) == "suspended"
    assert queries.history(ledger.chain.state, number)[-1].reason == "mark_misuse"
    after = check(ledger, number, signature)
    assert (after.genuine, after.valid, after.status) == (True, False, "suspended")


def test_vendors_and_members_report_misuse_too(ledger: Ledger) -> None:
    number = ledger.issue()
    for signer in ("globex", "reg"):
        ledger.ok(signer, "certification.report_mark_misuse", misuse(number, "website"))
    reports = ledger.chain.state.records(f"certification/mark_misuse/{number}/", MisuseReport)
    assert {r.reporter for r in reports} == {public("globex"), public("reg")}


@pytest.mark.parametrize(("changes", "code"), [
    ({"context": "billboard"}, "bad_context"),
    ({"evidence": "photo"}, "bad_evidence"),
    ({"description": ""}, "bad_payload"),
    ({"certificate": "CFP-1999-000001"}, "unknown_certificate"),
])
def test_a_bad_misuse_report_is_refused(ledger: Ledger, changes: dict[str, Any],
                                        code: str) -> None:
    number = ledger.issue()
    assert ledger.refused("stranger", "certification.report_mark_misuse",
                          {**misuse(number), **changes}).code == code
