"""The example in docs/receipts.md verifies, and every documented failure is reported."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from consortia.ledger.receipts import ReceiptError, verify_receipt

DOC = Path(__file__).resolve().parents[2] / "docs" / "receipts.md"


def documented() -> tuple[dict[str, Any], bytes]:
    text = DOC.read_text()
    receipt = json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))  # type: ignore[union-attr]
    key = re.search(r"verifies with node key `([0-9a-f]{64})`", text).group(1)  # type: ignore[union-attr]
    return receipt, bytes.fromhex(key)


def test_the_documented_example_verifies() -> None:
    receipt, key = documented()
    verify_receipt(receipt, key)


def _tamper_result(r: dict[str, Any]) -> None:
    r["result"]["code"] = "ok"


def _tamper_path(r: dict[str, Any]) -> None:
    r["audit_path"][0] = "00" * 32


def _tamper_size(r: dict[str, Any]) -> None:
    r["tree_size"] = r["tree_size"] + 1


def _tamper_signature(r: dict[str, Any]) -> None:
    r["signed_tree_head"]["time_ms"] += 1


def _tamper_leaf(r: dict[str, Any]) -> None:
    r["leaf"] = "00" + r["leaf"][2:]


@pytest.mark.parametrize("tamper, failure", [
    (_tamper_result, "result does not match the leaf"),
    (_tamper_path, "audit path does not lead"),
    (_tamper_size, "differ from the signed tree head"),
    (_tamper_signature, "signature is invalid"),
    (_tamper_leaf, "leaf does not start with tx_id"),
])
def test_each_tampering_is_caught_by_its_own_check(tamper: Any, failure: str) -> None:
    receipt, key = documented()
    bad = copy.deepcopy(receipt)
    tamper(bad)
    with pytest.raises(ReceiptError, match=failure):
        verify_receipt(bad, key)


@pytest.mark.parametrize("bad", [None, [], {}, {"tx_id": "zz"}, {"tx_id": "00" * 32}])
def test_garbage_is_an_error_not_a_crash(bad: Any) -> None:
    with pytest.raises(ReceiptError):
        verify_receipt(bad, bytes(32))
