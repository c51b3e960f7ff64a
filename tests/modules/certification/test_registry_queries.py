"""Registry queries: by number, search with effective status, history, valid at a time."""

from __future__ import annotations

from consortia.modules.certification import queries
from consortia.modules.certification.types import TERM_MS
from tests.modules.certification.support import DAY_MS, Ledger, step


def test_search_filters_by_vendor_type_effective_status_and_expiry(ledger: Ledger) -> None:
    state = ledger.chain.state
    early = ledger.issue()
    ledger.at(ledger.now_ms + 100 * DAY_MS)
    late = ledger.issue(product_type="CLIENT_SW")
    theirs = ledger.issue("globex")
    pending = ledger.apply()
    now = ledger.now_ms

    def numbers(**filters: object) -> list[str]:
        found = queries.search(state, now, **filters)  # type: ignore[arg-type]
        return sorted(c.number or c.id for c in found)

    assert numbers(vendor="globex") == [theirs]
    assert numbers(product_type="CLIENT_SW") == [late]
    assert numbers(status="submitted") == [pending]
    assert numbers(status="valid") == sorted([early, late, theirs])
    early_expiry = ledger.cert(early).expires_ms
    assert numbers(expires_from_ms=early_expiry, expires_to_ms=early_expiry + 1) == [early]
    assert [c.number for c in queries.search(state, early_expiry, status="expired")] == [early]
    assert len(queries.search(state, now, limit=2)) == 2
    first = queries.search(state, now, limit=2)
    rest = queries.search(state, now, after=first[-1].id)
    assert {c.id for c in first} | {c.id for c in rest} == {
        ledger.cert(r).id for r in (early, late, theirs, pending)}


def test_valid_at_is_answered_from_the_history(ledger: Ledger) -> None:
    state = ledger.chain.state
    cert_id = ledger.apply()
    applied = ledger.now_ms
    ledger.at(applied + 1_000)
    number = ledger.drive(cert_id, "valid")
    issued = ledger.cert(number).issued_ms
    suspended_at = issued + 10 * DAY_MS
    ledger.ok("cfc", "certification.suspend",
              step(number, "x", correction_deadline_ms=suspended_at + DAY_MS),
              at_ms=suspended_at)
    reinstated_at = suspended_at + DAY_MS // 2
    ledger.ok("cfc", "certification.reinstate", step(number, "fixed"), at_ms=reinstated_at)
    assert not queries.valid_at(state, number, applied - 1)
    assert not queries.valid_at(state, number, applied)
    assert queries.valid_at(state, number, issued)
    assert not queries.valid_at(state, number, suspended_at)
    assert queries.status_at(state, number, suspended_at + 1) == "suspended"
    assert queries.valid_at(state, number, reinstated_at)
    assert not queries.valid_at(state, number, issued + TERM_MS)
    assert not queries.valid_at(state, "CFP-2026-999999", issued)


def test_valid_at_follows_a_renewed_term(ledger: Ledger) -> None:
    state = ledger.chain.state
    number = ledger.issue()
    expires = ledger.cert(number).expires_ms
    ledger.ok("acme", "certification.apply_renewal", step(number, "renewal"),
              at_ms=expires - DAY_MS)
    ledger.ok("cfc", "certification.renew", step(number, "ok"))
    assert queries.valid_at(state, number, expires - DAY_MS - 1)
    assert queries.valid_at(state, number, expires + DAY_MS)
    assert not queries.valid_at(state, number, expires + TERM_MS)


def test_a_certificate_view_shows_the_effective_status(ledger: Ledger) -> None:
    number = ledger.issue()
    expires = ledger.cert(number).expires_ms
    view = queries.view(ledger.cert(number), expires)
    assert (view["status"], view["stored_status"], view["number"]) == (
        "expired", "valid", number)
    assert queries.certificate(ledger.chain.state, "CFP-2026-000999") is None
