"""The browser receipt verifier (consortia/static/receipt.js) against the Python reference."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from consortia.ledger.receipts import ReceiptError, verify_receipt
from tests.conftest import RunningNode

LEAF = "Leaf matches tx id"
RESULT = "Leaf matches result"
SIGNATURE = "Tree head signed by node key"
INCLUSION = "Audit path leads to signed root"

Receipt = dict[str, Any]


def receipt_of(node: RunningNode, tx_id: str) -> Receipt:
    response = httpx.get(f"{node.url}/v1/tx/{tx_id}/receipt")
    response.raise_for_status()
    receipt: Receipt = response.json()
    return receipt


def all_receipts(node: RunningNode) -> list[Receipt]:
    return [receipt_of(node, r.tx_id.hex()) for r in node.node.store.recent_txs(50)]


def flip_hex(text: str, at: int = 0) -> str:
    """``text`` with the hex digit at ``at`` changed (one byte of the value differs)."""
    digit = "0" if text[at] != "0" else "1"
    return text[:at] + digit + text[at + 1:]


def python_verdict(receipt_text: str, node_key_hex: str) -> str | None:
    """None when the reference verifier accepts, else the name of the check it failed."""
    try:
        verify_receipt(json.loads(receipt_text), bytes.fromhex(node_key_hex))
    except ReceiptError as exc:
        message = str(exc)
    else:
        return None
    # The reference raises at its first failing check; name it as the page does.
    if message.startswith(("tree_size/root_hash", "leaf_index", "audit_path", "audit path",
                           "receipt has no field tree_size", "receipt has no field root_hash",
                           "receipt has no field leaf_index", "tree_size", "root_hash")):
        return INCLUSION
    if "signed_tree_head" in message or message.startswith("signed tree head"):
        return SIGNATURE
    if message.startswith(("result", "receipt has no result")):
        return RESULT
    return LEAF


def js_verdicts(page: Page, cases: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Run verifyReceipt(parseJson(text), key) in the page for every (text, key)."""
    outcomes: list[dict[str, Any]] = page.evaluate(
        """async (cases) => {
            const m = await import("/static/receipt.js");
            const out = [];
            for (const [text, key] of cases) {
                out.push(await m.verifyReceipt(m.parseJson(text), key));
            }
            return out;
        }""", cases)
    return outcomes


@pytest.fixture(scope="module")
def receipts(demo_node: RunningNode) -> list[Receipt]:
    """Every demo receipt, plus a rejected tx whose result message holds quotes and UTF-8."""
    with demo_node.client() as client:
        result, receipt = client.send(
            demo_node.keys["harbor"], "governance.vote",
            {"proposal_id": 'nø "such" \\ proposal 😀\t', "approve": True})
    assert result["status"] == "rejected" and "😀" in result["message"]
    return [*all_receipts(demo_node), receipt]


def tamperings(receipt: Receipt) -> list[tuple[str, Callable[[Receipt], Any]]]:
    """Ways to change one thing in a receipt; each returns None or a replacement text."""

    def setter(*path: str, value: Callable[[Any], Any]) -> Callable[[Receipt], None]:
        def change(r: Receipt) -> None:
            target = r
            for name in path[:-1]:
                target = target[name]
            target[path[-1]] = value(target[path[-1]])
        return change

    def drop(*path: str) -> Callable[[Receipt], None]:
        def change(r: Receipt) -> None:
            target = r
            for name in path[:-1]:
                target = target[name]
            del target[path[-1]]
        return change

    out: list[tuple[str, Callable[[Receipt], Any]]] = [
        ("result code", setter("result", "code", value=lambda c: c[:-1] + chr(ord(c[-1]) ^ 1))),
        ("result height", setter("result", "height", value=lambda h: h + 1)),
        ("result extra key", setter("result", "data", value=lambda d: {**d, "x": 1})),
        ("result bool for int", setter("result", "height", value=lambda h: True)),
        # Written as 7.0: equal as a number, but not the result the leaf commits to.
        ("result float for int", setter("result", "height", value=float)),
        ("tx id", setter("tx_id", value=flip_hex)),
        ("leaf digest", setter("leaf", value=lambda v: flip_hex(v, 64))),
        ("leaf short", setter("leaf", value=lambda v: v[:-2])),
        ("sth time", setter("signed_tree_head", "time_ms", value=lambda t: t + 1)),
        ("sth height", setter("signed_tree_head", "height", value=lambda h: h + 1)),
        ("sth signature", setter("signed_tree_head", "signature", value=flip_hex)),
        ("sth key", setter("signed_tree_head", "node_key", value=flip_hex)),
        ("sth missing height", drop("signed_tree_head", "height")),
        ("sth negative size", setter("signed_tree_head", "tree_size", value=lambda s: -1)),
        ("root", setter("root_hash", value=flip_hex)),
        ("tree size", setter("tree_size", value=lambda s: s + 1)),
        ("leaf index", setter("leaf_index", value=lambda i: i + 1)),
        ("audit path extra", setter("audit_path", value=lambda p: [*p, "00" * 32])),
        ("audit path not a list", setter("audit_path", value=lambda p: "00" * 32)),
        ("no result", drop("result")),
        # Equivalent forms that must still verify:
        ("upper-case hex", setter("tx_id", value=str.upper)),
    ]
    if receipt["audit_path"]:
        out.append(("audit path hash",
                    setter("audit_path", value=lambda p: [flip_hex(p[0]), *p[1:]])))
        out.append(("audit path short", setter("audit_path", value=lambda p: p[:-1])))
    return out


def cases_for(receipt: Receipt, node_key: str, other_key: str) -> list[tuple[str, str, str]]:
    """(what was done, receipt text, key to verify against) for one receipt."""
    text = json.dumps(receipt, ensure_ascii=False)
    cases = [
        ("as served", text, node_key),
        ("re-indented, keys sorted", json.dumps(receipt, indent=3, sort_keys=True), node_key),
        ("another node key", text, other_key),
    ]
    for what, change in tamperings(receipt):
        tampered = copy.deepcopy(receipt)
        change(tampered)
        cases.append((what, json.dumps(tampered, ensure_ascii=False), node_key))
    return cases


def test_js_verifier_and_python_verify_receipt_agree(demo_node: RunningNode, page: Page,
                                                    receipts: list[Receipt]) -> None:
    page.goto(demo_node.url + "/explorer/verify")
    node_key = demo_node.node.key.public_key_hex
    other_key = demo_node.keys["fro"].public_key_hex
    cases = [c for r in receipts for c in cases_for(r, node_key, other_key)]
    outcomes = js_verdicts(page, [(text, key) for _, text, key in cases])
    valid = 0
    failed: set[str] = set()
    for (what, text, key), outcome in zip(cases, outcomes, strict=True):
        expected = python_verdict(text, key)
        assert outcome["failed"] == expected, (what, outcome, text)
        assert outcome["ok"] == (expected is None), what
        assert len(outcome["checks"]) == 4
        valid += outcome["ok"]
        failed.add(outcome["failed"])
    # Every receipt verifies as served, re-indented and with upper-case hex, and nothing else.
    assert valid == 3 * len(receipts)
    assert failed == {None, LEAF, RESULT, SIGNATURE, INCLUSION}
    assert len(cases) > 20 * len(receipts)


def paste_and_verify(page: Page, receipt_text: str, node_key: str | None = None) -> None:
    page.fill("#receipt-text", receipt_text)
    if node_key is not None:
        page.fill("#node-key", node_key)
    page.click("#verify-button")
    page.locator("#receipt[data-checked='true']").wait_for()


def marks(page: Page) -> dict[str, str | None]:
    items = page.locator("#checks li")
    return {items.nth(i).locator(".check-name").inner_text(): items.nth(i).get_attribute("data-ok")
            for i in range(items.count())}


def test_pasted_receipt_with_one_result_byte_changed_is_invalid(
        demo_node: RunningNode, page: Page, receipts: list[Receipt]) -> None:
    receipt = copy.deepcopy(receipts[0])
    receipt["result"]["code"] = receipt["result"]["code"].replace("o", "p", 1)
    page.goto(demo_node.url + "/explorer/verify")
    expect(page.locator("#node-key")).to_have_value(demo_node.node.key.public_key_hex)
    paste_and_verify(page, json.dumps(receipt))
    expect(page.locator("#verdict")).to_have_text(f"Receipt INVALID: {RESULT}")
    assert marks(page) == {LEAF: "true", RESULT: "false", SIGNATURE: "true", INCLUSION: "true"}


def test_pasted_receipt_with_a_tampered_audit_path_is_invalid(
        demo_node: RunningNode, page: Page, receipts: list[Receipt]) -> None:
    receipt = copy.deepcopy(next(r for r in receipts if len(r["audit_path"]) > 1))
    receipt["audit_path"][1] = flip_hex(receipt["audit_path"][1], 10)
    page.goto(demo_node.url + "/explorer/verify")
    paste_and_verify(page, json.dumps(receipt))
    expect(page.locator("#verdict")).to_have_text(f"Receipt INVALID: {INCLUSION}")
    assert marks(page) == {LEAF: "true", RESULT: "true", SIGNATURE: "true", INCLUSION: "false"}


def test_receipt_checked_against_another_node_key_fails_the_signature_check(
        demo_node: RunningNode, page: Page, receipts: list[Receipt]) -> None:
    page.goto(demo_node.url + "/explorer/verify")
    paste_and_verify(page, json.dumps(receipts[0]))
    expect(page.locator("#verdict")).to_have_text("Receipt verified")
    # Changing the key re-checks the same receipt at once.
    page.fill("#node-key", demo_node.keys["lotus"].public_key_hex)
    expect(page.locator("#verdict")).to_have_text(f"Receipt INVALID: {SIGNATURE}")
    assert marks(page) == {LEAF: "true", RESULT: "true", SIGNATURE: "false", INCLUSION: "true"}


def test_pasting_something_that_is_not_json_says_so(demo_node: RunningNode,
                                                    page: Page) -> None:
    page.goto(demo_node.url + "/explorer/verify")
    paste_and_verify(page, '{"tx_id": ')
    expect(page.locator("#verdict")).to_contain_text("Receipt INVALID: not JSON")
