"""The certificate lifecycle of cfp.md: every legal transition, by whom, with its history."""

from __future__ import annotations

import pytest

from consortia.modules.certification import queries
from consortia.modules.certification.types import TERM_MS
from tests.modules.certification.support import DAY_MS, Ledger, evidence, public, step


def test_a_product_goes_from_application_to_a_valid_certificate(ledger: Ledger) -> None:
    cert_id = ledger.apply()
    assert ledger.status(cert_id) == "submitted"
    ledger.ok("cfc", "certification.accept", step(cert_id, "complete_dossier"))
    assert ledger.status(cert_id) == "accepted"
    ledger.ok("cfc", "certification.assign_lab", step(cert_id, "type_testing", lab="lab1"))
    assert ledger.status(cert_id) == "testing"
    ledger.report(cert_id)
    assert ledger.status(cert_id) == "test_passed"
    assert all(r.passed for r in ledger.cert(cert_id).test_report)
    ledger.ok("cfc", "certification.onsite_check", step(cert_id, "factory_ok", passed=True))
    assert ledger.status(cert_id) == "onsite_passed"
    issued_at = ledger.now_ms + 1_000
    result = ledger.ok("cfc", "certification.decide", step(cert_id, "issued", issue=True),
                       at_ms=issued_at)
    number = result.data["number"]
    assert number == "CFP-2026-000001"  # GENESIS_MS is in 2026
    cert = ledger.cert(number)
    assert (cert.status, cert.id, cert.body) == ("valid", cert_id, "cfc")
    assert (cert.issued_ms, cert.expires_ms) == (issued_at, issued_at + TERM_MS)
    assert cert.expires_ms - cert.issued_ms == 1095 * DAY_MS
    assert (cert.holder_name, cert.model, cert.versions) == (
        "Acme Payment Terminals Co., Ltd.", "SP-100", ["1.0.0"])

    history = queries.history(ledger.chain.state, number)
    assert [(h.from_, h.to) for h in history] == [
        ("draft", "submitted"), ("submitted", "accepted"), ("accepted", "testing"),
        ("testing", "test_passed"), ("test_passed", "onsite_passed"),
        ("onsite_passed", "valid")]
    last = history[-1]
    assert (last.by, last.time_ms, last.reason, last.evidence) == (
        public("cfc"), issued_at, "issued", evidence("issued"))
    assert len(last.tx_id) == 64 and last.expires_ms == cert.expires_ms


def test_certificate_numbers_count_up_within_the_year(ledger: Ledger) -> None:
    assert [ledger.issue() for _ in range(3)] == [
        "CFP-2026-000001", "CFP-2026-000002", "CFP-2026-000003"]


def test_the_history_is_recorded_with_the_json_field_from(ledger: Ledger) -> None:
    import msgspec

    number = ledger.issue()
    first = queries.history(ledger.chain.state, number)[0]
    assert msgspec.to_builtins(first)["from"] == "draft"


def test_a_body_rejects_an_application(ledger: Ledger) -> None:
    cert_id = ledger.apply()
    ledger.ok("cfc", "certification.reject", step(cert_id, "incomplete_dossier"))
    assert ledger.status(cert_id) == "rejected"


def test_a_failed_item_fails_the_type_test_and_the_body_refuses(ledger: Ledger) -> None:
    cert_id = ledger.apply()
    ledger.drive(cert_id, "testing")
    ledger.report(cert_id, failing=("POS-03",))
    assert ledger.status(cert_id) == "test_failed"
    failed = [r.item for r in ledger.cert(cert_id).test_report if not r.passed]
    assert failed == ["POS-03"]
    ledger.ok("cfc", "certification.decide", step(cert_id, "type_test_failed", issue=False))
    assert ledger.status(cert_id) == "refused"


def test_a_failed_onsite_check_leads_to_refusal_not_issue(ledger: Ledger) -> None:
    cert_id = ledger.apply()
    ledger.drive(cert_id, "test_passed")
    ledger.ok("cfc", "certification.onsite_check", step(cert_id, "factory_gaps", passed=False))
    assert ledger.status(cert_id) == "onsite_failed"
    code = ledger.refused("cfc", "certification.decide", step(cert_id, "x", issue=True)).code
    assert code == "illegal_transition"
    ledger.ok("cfc", "certification.decide", step(cert_id, "onsite_failed", issue=False))
    assert ledger.status(cert_id) == "refused"


def test_a_body_may_refuse_after_a_passed_onsite_check(ledger: Ledger) -> None:
    cert_id = ledger.apply()
    ledger.drive(cert_id, "onsite_passed")
    ledger.ok("cfc", "certification.decide", step(cert_id, "policy", issue=False))
    assert ledger.status(cert_id) == "refused"


def test_a_test_report_must_cover_every_test_item_once(ledger: Ledger) -> None:
    cert_id = ledger.apply()
    ledger.drive(cert_id, "testing")
    items = [i.id for i in ledger.product_type("POS").test_items]
    for results in ([{"item": i, "passed": True} for i in items[:-1]],
                    [{"item": i, "passed": True} for i in [*items, items[0]]],
                    [{"item": i, "passed": True} for i in [*items[:-1], "NOPE"]]):
        result = ledger.refused("lab1", "certification.test_report",
                                {"certificate": cert_id, "results": results,
                                 "evidence": evidence("r")})
        assert result.code == "bad_report"


def test_only_the_assigned_lab_reports(ledger: Ledger) -> None:
    cert_id = ledger.apply()
    ledger.drive(cert_id, "testing")
    items = ledger.product_type("POS").test_items
    payload = {"certificate": cert_id, "evidence": evidence("r"),
               "results": [{"item": i.id, "passed": True} for i in items]}
    assert ledger.refused("lab2", "certification.test_report", payload).code == "not_allowed"
    assert ledger.refused("cfc", "certification.test_report", payload).code == "not_allowed"
    ledger.ok("lab1", "certification.test_report", payload)


def test_surveillance_keeps_a_certificate_valid_and_is_recorded(ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.ok("cfc", "certification.surveillance_passed", step(number, "follow_up"))
    assert ledger.status(number) == "valid"
    last = queries.history(ledger.chain.state, number)[-1]
    assert (last.from_, last.to, last.action) == ("valid", "valid", "surveillance_passed")


def test_suspension_then_reinstatement_within_the_deadline(ledger: Ledger) -> None:
    number = ledger.issue()
    deadline = ledger.now_ms + 30 * DAY_MS
    ledger.ok("cfc", "certification.suspend",
              step(number, "failed_inspection", correction_deadline_ms=deadline))
    assert ledger.status(number) == "suspended"
    assert ledger.cert(number).correction_deadline_ms == deadline
    ledger.ok("cfc", "certification.reinstate", step(number, "corrected"), at_ms=deadline)
    assert ledger.status(number) == "valid"
    assert ledger.cert(number).correction_deadline_ms == 0


def test_a_suspension_needs_a_deadline_in_the_future(ledger: Ledger) -> None:
    number = ledger.issue()
    result = ledger.refused("cfc", "certification.suspend",
                            step(number, "x", correction_deadline_ms=ledger.now_ms))
    assert result.code == "bad_deadline"


def test_past_the_correction_deadline_it_stays_suspended_until_revoked(ledger: Ledger) -> None:
    number = ledger.issue()
    deadline = ledger.now_ms + 30 * DAY_MS
    ledger.ok("cfc", "certification.suspend",
              step(number, "mark_misuse", correction_deadline_ms=deadline))
    ledger.at(deadline + 1)
    assert ledger.status(number) == "suspended"
    result = ledger.refused("cfc", "certification.reinstate", step(number, "late"))
    assert result.code == "correction_deadline_passed"
    ledger.ok("cfc", "certification.revoke", step(number, "not_corrected"))
    assert ledger.status(number) == "revoked"


def test_a_valid_certificate_is_revoked_directly_only_for_a_serious_defect(
        ledger: Ledger) -> None:
    number = ledger.issue()
    result = ledger.refused("cfc", "certification.revoke", step(number, "minor_issue"))
    assert result.code == "illegal_transition"
    assert "serious_defect" in result.message
    ledger.ok("cfc", "certification.revoke", step(number, "serious_defect"))
    assert ledger.status(number) == "revoked"


def test_a_change_of_version_keeps_the_certificate_usable_and_adds_the_version(
        ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.ok("acme", "certification.request_change",
              step(number, "firmware_update", version="1.1.0"))
    assert ledger.status(number) == "change_pending"
    assert queries.valid_at(ledger.chain.state, number, ledger.now_ms)
    assert ledger.cert(number).pending_version == "1.1.0"
    ledger.ok("cfc", "certification.approve_change", step(number, "change_ok"))
    cert = ledger.cert(number)
    assert (cert.status, cert.versions, cert.pending_version) == (
        "valid", ["1.0.0", "1.1.0"], "")


def test_a_change_of_scope_replaces_the_scope_when_approved(ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.ok("acme", "certification.request_change",
              step(number, "new_scope", scope="card, QR and NFC acceptance"))
    ledger.ok("cfc", "certification.approve_change", step(number, "change_ok"))
    assert ledger.cert(number).scope == "card, QR and NFC acceptance"


def test_a_refused_change_leaves_the_certificate_as_it_was(ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.ok("acme", "certification.request_change", step(number, "fw", version="2.0.0"))
    ledger.ok("cfc", "certification.refuse_change", step(number, "insufficient_evidence"))
    cert = ledger.cert(number)
    assert (cert.status, cert.versions, cert.pending_version) == ("valid", ["1.0.0"], "")


def test_a_change_must_name_something_new(ledger: Ledger) -> None:
    number = ledger.issue()
    assert ledger.refused("acme", "certification.request_change",
                          step(number, "nothing")).code == "bad_payload"
    assert ledger.refused("acme", "certification.request_change",
                          step(number, "same", version="1.0.0")).code == "bad_payload"


def test_renewal_before_expiry_extends_the_term_by_three_years(ledger: Ledger) -> None:
    number = ledger.issue()
    expires = ledger.cert(number).expires_ms
    ledger.ok("acme", "certification.apply_renewal", step(number, "renewal"),
              at_ms=expires - 60 * DAY_MS)
    assert ledger.status(number) == "renewal_review"
    ledger.ok("cfc", "certification.renew", step(number, "renewal_review_ok"))
    cert = ledger.cert(number)
    assert (cert.status, cert.term_start_ms, cert.expires_ms) == (
        "valid", expires, expires + TERM_MS)
    ledger.at(expires + 1)
    assert ledger.status(number) == "valid"


def test_a_refused_renewal_lets_the_certificate_run_out(ledger: Ledger) -> None:
    number = ledger.issue()
    expires = ledger.cert(number).expires_ms
    ledger.ok("acme", "certification.apply_renewal", step(number, "renewal"),
              at_ms=expires - DAY_MS)
    ledger.ok("cfc", "certification.refuse_renewal", step(number, "not_renewed"))
    assert ledger.status(number) == "valid"
    ledger.at(expires)
    assert ledger.status(number) == "expired"


def test_a_renewal_under_review_still_expires_at_the_end_of_the_term(ledger: Ledger) -> None:
    number = ledger.issue()
    expires = ledger.cert(number).expires_ms
    ledger.ok("acme", "certification.apply_renewal", step(number, "renewal"),
              at_ms=expires - DAY_MS)
    result = ledger.refused("cfc", "certification.renew", step(number, "late"), at_ms=expires)
    assert result.code == "illegal_transition"
    assert "from expired" in result.message


def test_expiry_needs_no_transaction(ledger: Ledger) -> None:
    number = ledger.issue()
    expires = ledger.cert(number).expires_ms
    state = ledger.chain.state
    ledger.at(expires - 1)
    assert ledger.status(number) == "valid"
    assert ledger.cert(number).status == "valid"  # stored status untouched either side
    ledger.at(expires)
    assert ledger.status(number) == "expired"
    assert ledger.cert(number).status == "valid"
    assert queries.valid_at(state, number, expires - 1)
    assert not queries.valid_at(state, number, expires)
    assert queries.status_at(state, number, expires) == "expired"


def test_an_expired_certificate_cannot_be_renewed_or_cancelled(ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.at(ledger.cert(number).expires_ms)
    for signer, action in (("acme", "apply_renewal"), ("acme", "cancel"),
                           ("cfc", "surveillance_passed")):
        result = ledger.refused(signer, f"certification.{action}", step(number, "late"))
        assert result.code == "illegal_transition"
        assert "from expired" in result.message


@pytest.mark.parametrize("by", ["acme", "cfc"])
def test_the_holder_or_the_body_cancels_a_valid_certificate(ledger: Ledger, by: str) -> None:
    number = ledger.issue()
    ledger.ok(by, "certification.cancel", step(number, "discontinued"))
    assert ledger.status(number) == "cancelled"


def test_a_suspended_certificate_can_be_cancelled(ledger: Ledger) -> None:
    number = ledger.issue()
    ledger.ok("cfc", "certification.suspend",
              step(number, "x", correction_deadline_ms=ledger.now_ms + DAY_MS))
    ledger.ok("acme", "certification.cancel", step(number, "discontinued"))
    assert ledger.status(number) == "cancelled"


def test_bad_reason_or_evidence_is_refused(ledger: Ledger) -> None:
    cert_id = ledger.apply()
    assert ledger.refused("cfc", "certification.accept",
                          {"certificate": cert_id, "reason": "Bad Reason",
                           "evidence": evidence("x")}).code == "bad_reason"
    assert ledger.refused("cfc", "certification.accept",
                          {"certificate": cert_id, "reason": "ok",
                           "evidence": "ab" * 31}).code == "bad_evidence"
    assert ledger.refused("cfc", "certification.accept",
                          step("0" * 64)).code == "unknown_certificate"
