"""BARCODE_TERMINAL: the reference terminal passes every item; each deliberate fault fails
exactly the item it was built to fail."""

from __future__ import annotations

import hashlib
import json

import msgspec
import pytest

from consortia.conformance import run_suite
from consortia.conformance.interface import BARCODE_TERMINAL
from consortia.crypto.hashing import canonical_json
from consortia.crypto.keys import SigningKey
from consortia.devices.terminal import FAULTS
from consortia.modules.certification.logic import CATALOGUE_2019
from consortia.modules.certification.types import TEXT_CHARS_MAX, LabReport
from tests.conformance.support import item_of, terminal_at

ITEMS = next([i.id for i in items] for code, _, _, _, items in CATALOGUE_2019
             if code == BARCODE_TERMINAL)


def test_reference_terminal_passes_every_item_with_its_observations() -> None:
    with terminal_at() as prototype:
        report = run_suite(BARCODE_TERMINAL, prototype.url,
                           vendor_key=prototype.vendor.public_key_hex, certificate="app-1")
    assert [i.item for i in report.items] == ITEMS
    assert report.passed, [(i.item, i.note) for i in report.items if not i.passed]
    for item in report.items:
        assert item.note and len(item.note) <= TEXT_CHARS_MAX
        assert item.observations, item.item
    document = report.to_json()
    assert document["product_type"] == BARCODE_TERMINAL
    assert document["certificate"] == "app-1"
    assert document["prototype_url"] == prototype.url
    assert document["started_ms"] <= document["finished_ms"]
    assert [i["id"] for i in document["items"]] == ITEMS
    # The file a lab keeps gives the digest it records, recomputed from the file alone.
    reread = json.loads(json.dumps(document, indent=2))
    assert hashlib.sha256(canonical_json(reread)).hexdigest() == report.digest()
    # results_payload is exactly what certification.test_report takes.
    lab_report = msgspec.convert({"certificate": "app-1", "results": report.results_payload(),
                                  "evidence": report.digest()}, LabReport)
    assert [r.item for r in lab_report.results] == ITEMS
    assert all(r.passed for r in lab_report.results)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_terminal_fault_fails_exactly_its_item(fault: str) -> None:
    with terminal_at((fault,)) as prototype:
        report = run_suite(BARCODE_TERMINAL, prototype.url,
                           vendor_key=prototype.vendor.public_key_hex)
    assert report.failed_items == [item_of(FAULTS[fault])], [
        (i.item, i.note) for i in report.items]
    failed = next(i for i in report.items if not i.passed)
    assert failed.note and len(failed.note) <= TEXT_CHARS_MAX


def test_a_credential_signed_by_another_vendor_fails_the_signature_item() -> None:
    with terminal_at() as prototype:
        report = run_suite(BARCODE_TERMINAL, prototype.url,
                           vendor_key=SigningKey.generate().public_key_hex)
    assert report.failed_items == ["BT-04"]
    assert "another key than the applicant vendor's" in report.items[3].note
