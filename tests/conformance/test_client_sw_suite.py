"""CLIENT_SW: the reference wallet app passes every item; each deliberate fault fails exactly
the item it was built to fail; the report never carries the test account's secrets."""

from __future__ import annotations

import json

import pytest

from consortia.conformance import run_suite
from consortia.conformance.interface import CLIENT_SW, TEST_ACCOUNT
from consortia.crypto.keys import SigningKey
from consortia.devices.client_app import FAULTS
from consortia.modules.certification.types import TEXT_CHARS_MAX
from tests.conformance.support import client_app_at, item_of


def test_reference_wallet_app_passes_every_item() -> None:
    with client_app_at() as prototype:
        report = run_suite(CLIENT_SW, prototype.url,
                           vendor_key=prototype.vendor.public_key_hex)
    assert [i.item for i in report.items] == [f"CS-0{n}" for n in range(1, 7)]
    assert report.passed, [(i.item, i.note) for i in report.items if not i.passed]
    for item in report.items:
        assert item.note and len(item.note) <= TEXT_CHARS_MAX
        assert item.observations, item.item


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_client_app_fault_fails_exactly_its_item(fault: str) -> None:
    with client_app_at((fault,)) as prototype:
        report = run_suite(CLIENT_SW, prototype.url,
                           vendor_key=prototype.vendor.public_key_hex)
    assert report.failed_items == [item_of(FAULTS[fault])], [
        (i.item, i.note) for i in report.items]
    # Even where the app leaks them, the lab's report does not repeat the secrets.
    text = json.dumps(report.to_json())
    assert TEST_ACCOUNT["password"] not in text
    assert TEST_ACCOUNT["pin"] not in text


def test_a_manifest_signed_by_another_vendor_fails_the_integrity_item() -> None:
    with client_app_at() as prototype:
        report = run_suite(CLIENT_SW, prototype.url,
                           vendor_key=SigningKey.generate().public_key_hex)
    assert report.failed_items == ["CS-04"]


def test_a_wrong_test_account_fails_the_items_with_a_clear_note() -> None:
    with client_app_at() as prototype:
        report = run_suite(CLIENT_SW, prototype.url,
                           credentials={"username": "nobody", "password": "x", "pin": "1"})
    failed = {i.item: i.note for i in report.items if not i.passed}
    assert "CS-01" in failed and "POST /login answered 401" in failed["CS-01"]
    assert "CS-04" not in failed  # the package check needs no login
