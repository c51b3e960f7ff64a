"""Random inspections: a draw anyone can recompute from a block hash, and its outcomes."""

from __future__ import annotations

from typing import Any

from consortia.modules.certification import queries
from consortia.modules.certification.logic import rank_for_inspection
from tests.modules.certification.support import DAY_MS, Ledger, evidence


def select(ledger: Ledger, count: int, **extra: Any) -> dict[str, Any]:
    height = ledger.chain.head.height  # the next block's seed is this block's hash
    result = ledger.ok("cfc", "certification.select_inspections",
                       {"count": count, "stage": "warehouse", "seed_height": height, **extra})
    return result.data


def test_the_selection_is_recomputable_from_the_block_hash(ledger: Ledger) -> None:
    numbers = [ledger.issue() for _ in range(6)]
    ledger.issue(body="bctc")  # another body's certificate is not a candidate
    height = ledger.chain.head.height
    data = select(ledger, 3)
    selection = queries.selection(ledger.chain.state, data["selection"])
    assert selection is not None
    block = ledger.chain.store.block(height)
    assert block is not None
    assert selection.seed == block.hash.hex() and selection.seed_height == height
    assert selection.candidates == numbers
    assert rank_for_inspection(block.hash, numbers, {}, 3) == selection.selected
    assert data["selected"] == selection.selected and len(set(selection.selected)) == 3
    for inspection_id, number in zip(data["inspections"], selection.selected, strict=True):
        inspection = queries.inspection(ledger.chain.state, inspection_id)
        assert inspection is not None
        assert (inspection.certificate, inspection.stage, inspection.outcome) == (
            number, "warehouse", "")


def test_the_ranking_is_deterministic_and_depends_on_the_seed() -> None:
    numbers = [f"CFP-2026-{i:06d}" for i in range(1, 51)]
    first = rank_for_inspection(b"\x01" * 32, numbers, {}, 5)
    assert first == rank_for_inspection(b"\x01" * 32, list(reversed(numbers)), {}, 5)
    assert first != rank_for_inspection(b"\x02" * 32, numbers, {}, 5)


def test_a_risk_weight_makes_selection_more_likely() -> None:
    numbers = [f"CFP-2026-{i:06d}" for i in range(1, 21)]
    risky = numbers[7]
    plain = sum(risky in rank_for_inspection(bytes([s]) * 32, numbers, {}, 2)
                for s in range(200))
    weighted = sum(risky in rank_for_inspection(bytes([s]) * 32, numbers, {risky: 10}, 2)
                   for s in range(200))
    assert weighted > 2 * plain


def test_the_seed_must_be_the_previous_block(ledger: Ledger) -> None:
    ledger.issue()
    for offset in (-1, 1):  # the block before the head, or the block being made
        seed_height = ledger.chain.head.height + offset
        result = ledger.refused("cfc", "certification.select_inspections",
                                {"count": 1, "stage": "design", "seed_height": seed_height})
        assert result.code == "bad_seed_height"


def test_only_a_certification_body_selects(ledger: Ledger) -> None:
    ledger.issue()
    height = ledger.chain.head.height
    for who in ("acme", "lab1", "bank1"):
        assert ledger.refused(who, "certification.select_inspections",
                              {"count": 1, "stage": "design", "seed_height": height,
                               }).code == "not_allowed"


def test_suspended_and_expired_certificates_are_not_candidates(ledger: Ledger) -> None:
    kept = ledger.issue()
    suspended = ledger.issue()
    ledger.ok("cfc", "certification.suspend",
              {"certificate": suspended, "reason": "x", "evidence": evidence("x"),
               "correction_deadline_ms": ledger.now_ms + DAY_MS})
    data = select(ledger, 5)
    assert data["selected"] == [kept]


def test_a_major_nonconformity_suspends_the_certificate(ledger: Ledger) -> None:
    number = ledger.issue()
    data = select(ledger, 1)
    deadline = ledger.now_ms + 30 * DAY_MS
    ledger.ok("cfc", "certification.inspection_result",
              {"inspection": data["inspections"][0], "outcome": "major",
               "deadline_ms": deadline, "evidence": evidence("inspection report")})
    cert = ledger.cert(number)
    assert (cert.status, cert.correction_deadline_ms) == ("suspended", deadline)
    last = queries.history(ledger.chain.state, number)[-1]
    assert (last.to, last.reason) == ("suspended", "inspection_major")


def test_pass_and_minor_outcomes_keep_the_certificate_valid(ledger: Ledger) -> None:
    ledger.issue()
    ledger.issue()
    data = select(ledger, 2)
    ledger.ok("cfc", "certification.inspection_result",
              {"inspection": data["inspections"][0], "outcome": "pass",
               "evidence": evidence("a")})
    assert ledger.refused("cfc", "certification.inspection_result",
                          {"inspection": data["inspections"][1], "outcome": "minor",
                           "evidence": evidence("b")}).code == "bad_deadline"
    ledger.ok("cfc", "certification.inspection_result",
              {"inspection": data["inspections"][1], "outcome": "minor",
               "deadline_ms": ledger.now_ms + DAY_MS, "evidence": evidence("b")})
    for inspection_id, outcome in zip(data["inspections"], ("pass", "minor"), strict=True):
        inspection = queries.inspection(ledger.chain.state, inspection_id)
        assert inspection is not None and inspection.outcome == outcome
        assert ledger.status(inspection.certificate) == "valid"
    assert ledger.refused("cfc", "certification.inspection_result",
                          {"inspection": data["inspections"][0], "outcome": "pass",
                           "evidence": evidence("a")}).code == "inspection_done"


def test_only_the_selecting_body_records_an_outcome(ledger: Ledger) -> None:
    ledger.issue()
    data = select(ledger, 1)
    for who in ("bctc", "acme"):
        assert ledger.refused(who, "certification.inspection_result",
                              {"inspection": data["inspections"][0], "outcome": "pass",
                               "evidence": evidence("a")}).code == "not_allowed"
