"""The registry's search indexes and the feed's serial are ledger state kept with every
certificate write: a status change or a renewal moves the index entries, a search gives what a
scan of every certificate gives, and the serial is the sum of the histories."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consortia.ledger.state import Reader, State, encode_value
from consortia.modules.certification import feed, queries
from consortia.modules.certification.logic import effective_status
from consortia.modules.certification.types import (
    CERTIFICATE_PREFIX,
    FEED_SERIAL_KEY,
    ISSUED,
    STATUSES,
    TERM_MS,
    Certificate,
    by_expiry_key,
    by_status_key,
    by_type_key,
    by_vendor_key,
)
from tests.modules.certification.support import (
    DAY_MS,
    Ledger,
    evidence,
    make_ledger,
    step,
)

INDEX_PREFIXES = ("certification/by_vendor/", "certification/by_type/",
                  "certification/by_status/", "certification/by_expiry/")


def certificates(state: Reader) -> list[Certificate]:
    return state.records(CERTIFICATE_PREFIX, Certificate)


def expected_index(certs: list[Certificate]) -> set[str]:
    out = set()
    for c in certs:
        out |= {by_vendor_key(c.vendor, c.id), by_type_key(c.product_type, c.id),
                by_status_key(c.status, c.id)}
        if c.expires_ms:
            out.add(by_expiry_key(c.expires_ms, c.id))
    return out


def index_entries(state: Reader) -> set[str]:
    return {key for prefix in INDEX_PREFIXES for key in state.keys(prefix)}


def test_suspension_moves_the_certificate_to_the_suspended_index(ledger: Ledger) -> None:
    state = ledger.chain.state
    number = ledger.issue()
    cert_id = ledger.cert(number).id
    assert state.has(by_status_key("valid", cert_id))
    ledger.ok("cfc", "certification.suspend",
              step(number, "defect", correction_deadline_ms=ledger.now_ms + DAY_MS))
    assert not state.has(by_status_key("valid", cert_id))
    assert state.has(by_status_key("suspended", cert_id))
    assert [c.number for c in queries.search(state, ledger.now_ms, status="suspended")] == [
        number]
    assert queries.search(state, ledger.now_ms, status="valid") == []
    assert index_entries(state) == expected_index(certificates(state))


def test_renewal_moves_the_expiry_entry_to_the_new_term(ledger: Ledger) -> None:
    state = ledger.chain.state
    number = ledger.issue()
    cert = ledger.cert(number)
    assert state.keys("certification/by_expiry/") == [by_expiry_key(cert.expires_ms, cert.id)]
    ledger.ok("acme", "certification.apply_renewal", step(number, "renewal"))
    ledger.ok("cfc", "certification.renew", step(number, "ok"))
    renewed = ledger.cert(number).expires_ms
    assert renewed == cert.expires_ms + TERM_MS
    assert state.keys("certification/by_expiry/") == [by_expiry_key(renewed, cert.id)]
    assert queries.search(state, ledger.now_ms, expires_to_ms=cert.expires_ms + 1) == []
    assert [c.number for c in queries.search(state, ledger.now_ms,
                                             expires_to_ms=renewed + 1)] == [number]


def test_an_expired_certificate_stays_indexed_under_its_stored_status(ledger: Ledger) -> None:
    """Expiry is computed from time, never written: the status index keeps the stored status
    and search answers expired from the expiry index."""
    state = ledger.chain.state
    number = ledger.issue()
    cert = ledger.cert(number)
    at = cert.expires_ms
    assert state.has(by_status_key("valid", cert.id))
    assert [c.number for c in queries.search(state, at, status="expired")] == [number]
    assert queries.search(state, at - 1, status="expired") == []
    assert queries.search(state, at, status="valid") == []
    assert [c.number for c in queries.search(state, at - 1, status="valid")] == [number]


def test_expiry_keys_sort_as_the_times_they_hold() -> None:
    times = [0, 9, 10, 1_700_000_000_000, 99_999_999_999_999, 2**63 - 1]
    keys = [by_expiry_key(t, "x") for t in times]
    assert keys == sorted(keys)
    assert len({len(k) for k in keys}) == 1


def test_feed_serial_is_the_sum_of_every_history(ledger: Ledger) -> None:
    state = ledger.chain.state
    assert feed.serial(state) == 0
    number = ledger.issue()
    ledger.apply("globex")
    ledger.ok("acme", "certification.cancel", step(number, "withdrawn"))
    assert state.get(FEED_SERIAL_KEY, int) == feed.serial(state) == sum(
        c.history_count for c in certificates(state)) == 6 + 1 + 1


def test_a_rejected_transition_leaves_indexes_and_serial_unchanged(ledger: Ledger) -> None:
    number = ledger.issue()
    # refused() checks the whole state is byte-for-byte unchanged.
    ledger.refused("cfc", "certification.reinstate", step(number, "not suspended"))
    ledger.refused("globex", "certification.cancel", step(number, "not the holder"))


# -- search equals a scan over random registries ------------------------------------------------

VENDORS = ("acme", "globex")
TYPES = ("POS", "ATM", "CLOUD")
# What happens to an application; a certificate is issued first for the last eight.
FATES = ("submitted", "accepted", "rejected", "testing", "refused", "valid", "suspended",
         "revoked", "cancelled", "change_pending", "renewal_review", "renewed")
ISSUED_FATES = FATES[5:]


def script(fate: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The steps after ``apply`` that lead to ``fate``, as (signer, action, payload without the
    certificate); "report" and "report_failing" are the lab's test report."""
    exam = [("cfc", "accept", step("", "accepted")),
            ("cfc", "assign_lab", step("", "lab", lab="lab1"))]
    if fate == "submitted":
        return []
    if fate == "accepted":
        return exam[:1]
    if fate == "rejected":
        return [("cfc", "reject", step("", "incomplete"))]
    if fate == "testing":
        return exam
    if fate == "refused":
        return [*exam, ("lab1", "report_failing", {}),
                ("cfc", "decide", step("", "failed", issue=False))]
    issued = [*exam, ("lab1", "report", {}), ("cfc", "onsite_check", step("", "ok", passed=True)),
              ("cfc", "decide", step("", "issued", issue=True))]
    after: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
        "valid": [],
        "suspended": [("cfc", "suspend", step("", "defect", correction_deadline_ms=2**50))],
        "revoked": [("cfc", "suspend", step("", "defect", correction_deadline_ms=2**50)),
                    ("cfc", "revoke", step("", "not_corrected"))],
        "cancelled": [("HOLDER", "cancel", step("", "withdrawn"))],
        "change_pending": [("HOLDER", "request_change", step("", "v2", version="2.0.0"))],
        "renewal_review": [("HOLDER", "apply_renewal", step("", "renewal"))],
        "renewed": [("HOLDER", "apply_renewal", step("", "renewal")),
                    ("cfc", "renew", step("", "ok"))],
    }
    return issued + after[fate]


def build(ledger: Ledger, plan: list[tuple[str, str, str, int]]) -> None:
    """Apply for every (vendor, product type, fate, cohort); each cohort starts 200 days after
    the previous one so terms differ, and step i of each of its certificates runs in its
    cohort's block i."""
    cohorts = sorted({c for *_, c in plan})
    start = ledger.now_ms
    for cohort in cohorts:
        ledger.at(max(ledger.now_ms, start + cohort * 200 * DAY_MS))
        members = [(v, t, f) for v, t, f, c in plan if c == cohort]
        applied = ledger.run_txs([ledger.tx(v, "certification.apply",
                                            _application(t))
                                  for v, t, _ in members])
        assert all(r.accepted for r in applied), applied
        ids = [str(r.data["certificate"]) for r in applied]
        scripts = [script(f) for _, _, f in members]
        for i in range(max(len(s) for s in scripts)):
            ledger.at(ledger.now_ms + DAY_MS)
            txs = []
            for cert_id, (vendor, product_type, _), steps in zip(ids, members, scripts,
                                                                 strict=True):
                if i >= len(steps):
                    continue
                signer, action, payload = steps[i]
                signer = vendor if signer == "HOLDER" else signer
                if action.startswith("report"):
                    items = ledger.product_type(product_type).test_items
                    failing = action == "report_failing"
                    action, payload = "test_report", {
                        "results": [{"item": it.id, "passed": not failing, "note": ""}
                                    for it in items], "evidence": evidence("report")}
                txs.append(ledger.tx(signer, f"certification.{action}",
                                     {**payload, "certificate": cert_id}))
            results = ledger.run_txs(txs)
            assert all(r.accepted for r in results), results


def _application(product_type: str) -> dict[str, Any]:
    return {"body": "cfc", "product_type": product_type, "product_name": "Product",
            "model": "M-1", "version": "1.0.0", "manufacturer": "Maker", "factory": "Plant",
            "scope": "scope", "standards": ["JR/T 0001"], "evidence": evidence("dossier")}


def naive(certs: list[Certificate], time_ms: int, filters: dict[str, Any], after: str,
          limit: int) -> list[str]:
    """The search by definition: every certificate in id order, each filter checked."""
    out = []
    for c in sorted(certs, key=lambda c: c.id):
        if c.id <= after:
            continue
        if filters.get("vendor") is not None and c.vendor != filters["vendor"]:
            continue
        if filters.get("product_type") is not None and c.product_type != filters["product_type"]:
            continue
        if filters.get("status") is not None and effective_status(c, time_ms) != filters[
                "status"]:
            continue
        low, high = filters.get("expires_from_ms"), filters.get("expires_to_ms")
        if (low is not None or high is not None) and not c.expires_ms:
            continue
        if (low is not None and c.expires_ms < low) or (high is not None and c.expires_ms >= high):
            continue
        out.append(c.id)
    return out[:limit]


entry_st = st.tuples(st.sampled_from(VENDORS), st.sampled_from(TYPES), st.sampled_from(FATES),
                     st.integers(0, 2))
# Query times and window ends as days after the start: terms end between day ~1095 and ~3600.
day_st = st.integers(0, 4_000)
query_st = st.fixed_dictionaries({}, optional={
    "vendor": st.sampled_from((*VENDORS, "nobody")),
    "product_type": st.sampled_from((*TYPES, "TEE")),
    "status": st.sampled_from(STATUSES),
    "expires_from_ms": day_st,
    "expires_to_ms": day_st,
})


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(entry_st, min_size=1, max_size=24),
       st.lists(st.tuples(query_st, day_st, st.sampled_from((1, 2, 5, 100))), min_size=1,
                max_size=25))
def test_search_equals_a_scan_of_every_certificate(
        plan: list[tuple[str, str, str, int]],
        searches: list[tuple[dict[str, Any], int, int]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        ledger = make_ledger(Path(d) / "ledger.sqlite")
        try:
            start = ledger.now_ms
            build(ledger, plan)
            state = ledger.chain.state
            certs = certificates(state)
            assert len(certs) == len(plan)
            assert index_entries(state) == expected_index(certs)
            assert feed.serial(state) == sum(c.history_count for c in certs)
            for query, day, limit in searches:
                filters = {k: start + v * DAY_MS if k.startswith("expires") else v
                           for k, v in query.items()}
                time_ms = start + day * DAY_MS
                # Page through: every page as the scan's, the cursor the last id.
                after, pages = "", 0
                while True:
                    want = naive(certs, time_ms, filters, after, limit)
                    got = queries.search(state, time_ms, after=after, limit=limit, **filters)
                    assert [c.id for c in got] == want, (filters, time_ms, after, limit)
                    pages += 1
                    if len(got) < limit or pages > len(certs):
                        break
                    after = got[-1].id
        finally:
            ledger.chain.store.close()


def synthetic_registry(count: int, seed: int) -> tuple[Reader, list[Certificate]]:
    """``count`` certificates written straight into committed state with their index entries
    (no chain: the search alone, over a registry large enough for every index to drive)."""
    rng = random.Random(seed)
    state = State()
    certs = []
    writes: dict[str, bytes | None] = {}
    for i in range(count):
        status = rng.choice(STATUSES[:-1])  # expired is never stored
        issued = status in (*ISSUED, "revoked", "cancelled")
        cert = Certificate(
            id=f"{rng.getrandbits(64):016x}{i:06d}", status=status,
            body="cfc", vendor=f"v{rng.randrange(40):02d}", holder_name="", holder_address="",
            product_type=rng.choice(("POS", "ATM", "CLOUD", "TEE", "TA")), product_name="",
            model="", versions=["1"], manufacturer="", factory="", scope="", standards=[],
            certification_model="", applied_ms=0, updated_ms=0, history_count=1,
            expires_ms=rng.randrange(1, 1_000) * DAY_MS if issued else 0)
        certs.append(cert)
        writes[f"{CERTIFICATE_PREFIX}{cert.id}"] = encode_value(cert)
        writes.update(dict.fromkeys(expected_index([cert]), encode_value("")))
    state.apply(writes)
    return state, certs


def test_search_equals_a_scan_whichever_index_drives_it(monkeypatch: Any) -> None:
    # Small chunks, so walks cross many chunk boundaries.
    monkeypatch.setattr(queries, "WALK_CHUNK", 7)
    state, certs = synthetic_registry(3_000, seed=4)
    rng = random.Random(5)
    for _ in range(300):
        filters: dict[str, Any] = {}
        if rng.random() < 0.3:
            filters["vendor"] = f"v{rng.randrange(41):02d}"
        if rng.random() < 0.4:
            filters["product_type"] = rng.choice(("POS", "ATM", "CLOUD", "TEE", "TA", "X"))
        if rng.random() < 0.6:
            filters["status"] = rng.choice(STATUSES)
        if rng.random() < 0.4:
            filters["expires_from_ms"] = rng.randrange(0, 1_100) * DAY_MS
        if rng.random() < 0.4:
            filters["expires_to_ms"] = rng.randrange(0, 1_100) * DAY_MS
        time_ms = rng.randrange(0, 1_100) * DAY_MS
        limit = rng.choice((1, 10, 100))
        after = rng.choice(("", certs[rng.randrange(len(certs))].id))
        want = naive(certs, time_ms, filters, after, limit)
        got = queries.search(state, time_ms, after=after, limit=limit, **filters)
        assert [c.id for c in got] == want, (filters, time_ms, after, limit)
