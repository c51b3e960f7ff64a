"""Every action from every status it is not allowed from is refused as an illegal transition,
and every action by the wrong actor is refused as not allowed; neither changes anything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from consortia.modules.certification.logic import TRANSITIONS
from consortia.modules.certification.types import STATUSES, TERM_MS
from tests.modules.certification.support import DAY_MS, Ledger, make_ledger, step

# Variants of actions whose target depends on the payload: name -> (action, target status).
VARIANTS: dict[str, tuple[str, str]] = {
    "decide_issue": ("decide", "valid"), "decide_refuse": ("decide", "refused"),
    "onsite_pass": ("onsite_check", "onsite_passed"),
    "onsite_fail": ("onsite_check", "onsite_failed"),
    "report_pass": ("test_report", "test_passed"),
    **{a: (a, next(iter(t))) for a, (_, t) in TRANSITIONS.items()
       if a not in ("decide", "onsite_check", "test_report")},
}


def attempt(ledger: Ledger, name: str, ref: str) -> tuple[str, str, dict[str, Any]]:
    """(signer, kind, payload) of ``name`` by the actor allowed to make it."""
    action, _ = VARIANTS[name]
    actor = TRANSITIONS[action][0]
    signer = {"body": "cfc", "vendor": "acme", "lab": "lab1", "holder_or_body": "acme"}[actor]
    payload = step(ref, "serious_defect" if action == "revoke" else "ok")
    if name == "decide_issue":
        payload["issue"] = True
    elif name == "decide_refuse":
        payload["issue"] = False
    elif action == "onsite_check":
        payload["passed"] = name == "onsite_pass"
    elif action == "assign_lab":
        payload["lab"] = "lab1"
    elif action == "suspend":
        payload["correction_deadline_ms"] = ledger.now_ms + DAY_MS
    elif action == "request_change":
        payload["version"] = "9.9.9"
    elif action == "test_report":
        payload = {"certificate": ref, "evidence": payload["evidence"],
                   "results": [{"item": i.id, "passed": True}
                               for i in ledger.product_type("POS").test_items]}
    return signer, f"certification.{action}", payload


@pytest.fixture(scope="module")
def statuses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ledger, dict[str, str]]]:
    """One ledger holding one certificate in each status."""
    ledger = make_ledger(tmp_path_factory.mktemp("illegal") / "ledger.sqlite")
    refs: dict[str, str] = {}
    refs["expired"] = ledger.issue()
    ledger.at(ledger.now_ms + TERM_MS)
    for status in ("submitted", "accepted", "testing", "test_passed", "onsite_passed",
                   "valid"):
        refs[status] = ledger.drive(ledger.apply(), status) if status != "submitted" \
            else ledger.apply()
    refs["rejected"] = ledger.apply()
    ledger.ok("cfc", "certification.reject", step(refs["rejected"]))
    refs["test_failed"] = ledger.apply()
    ledger.drive(refs["test_failed"], "testing")
    ledger.report(refs["test_failed"], failing=("POS-01",))
    refs["onsite_failed"] = ledger.drive(ledger.apply(), "test_passed")
    ledger.ok("cfc", "certification.onsite_check", step(refs["onsite_failed"], passed=False))
    refs["refused"] = ledger.drive(ledger.apply(), "onsite_passed")
    ledger.ok("cfc", "certification.decide", step(refs["refused"], issue=False))
    for status, kind, extra in (
            ("suspended", "suspend", {"correction_deadline_ms": ledger.now_ms + 400 * DAY_MS}),
            ("revoked", "revoke", {}), ("cancelled", "cancel", {}),
            ("renewal_review", "apply_renewal", {}), ("change_pending", "request_change",
                                                      {"version": "1.1"})):
        refs[status] = ledger.issue()
        signer = "acme" if kind in ("apply_renewal", "request_change") else "cfc"
        ledger.ok(signer, f"certification.{kind}",
                  step(refs[status], "serious_defect", **extra))
    assert set(refs) == set(STATUSES)
    for status, ref in refs.items():
        assert ledger.status(ref) == status
    yield ledger, refs
    ledger.chain.store.close()


ILLEGAL = [(status, name) for status in STATUSES for name, (action, target) in VARIANTS.items()
           if status not in TRANSITIONS[action][1][target]]
LEGAL = [(status, name) for status in STATUSES for name, (action, target) in VARIANTS.items()
         if status in TRANSITIONS[action][1][target]]


def test_the_table_covers_every_status_and_action() -> None:
    assert len(ILLEGAL) + len(LEGAL) == len(STATUSES) * len(VARIANTS)
    assert {s for s, _ in LEGAL} == set(STATUSES) - {
        "rejected", "refused", "revoked", "cancelled", "expired"}


@pytest.mark.parametrize(("status", "name"), ILLEGAL)
def test_an_action_from_a_status_it_is_not_allowed_from_is_an_illegal_transition(
        statuses: tuple[Ledger, dict[str, str]], status: str, name: str) -> None:
    ledger, refs = statuses
    signer, kind, payload = attempt(ledger, name, refs[status])
    result = ledger.refused(signer, kind, payload)
    assert result.code == "illegal_transition", (result.code, result.message)
    assert f"from {status} to" in result.message


WRONG_ACTORS = {"body": ("bctc", "acme", "lab1", "reg", "stranger"),
                "vendor": ("globex", "cfc", "lab1", "stranger"),
                "lab": ("cfc", "acme", "stranger"),
                "holder_or_body": ("globex", "bctc", "lab1", "stranger")}
WRONG = [(status, name, who) for status, name in LEGAL
         for who in WRONG_ACTORS[TRANSITIONS[VARIANTS[name][0]][0]]]


@pytest.mark.parametrize(("status", "name", "who"), WRONG)
def test_a_legal_transition_by_the_wrong_actor_is_not_allowed(
        statuses: tuple[Ledger, dict[str, str]], status: str, name: str, who: str) -> None:
    ledger, refs = statuses
    _, kind, payload = attempt(ledger, name, refs[status])
    result = ledger.refused(who, kind, payload)
    assert result.code == "not_allowed", (result.code, result.message)
