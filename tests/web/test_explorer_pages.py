"""The explorer in a real browser: tree head, blocks, search, tx pages with receipt checks."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningNode
from tests.web.conftest import start_node


def last_tx_id(node: RunningNode, kind: str | None = None) -> str:
    rows = node.node.store.recent_txs(50)
    return next(r.tx_id.hex() for r in rows if kind is None or r.kind == kind)


def wait_for_receipt_check(page: Page) -> None:
    page.locator("#receipt[data-checked='true']").wait_for()


def test_root_redirects_to_explorer(demo_node: RunningNode) -> None:
    response = httpx.get(demo_node.url + "/")
    assert response.status_code == 303
    assert response.headers["location"] == "/explorer"


def test_explorer_shows_blocks_and_latest_tree_head(demo_node: RunningNode,
                                                    page: Page) -> None:
    page.goto(demo_node.url + "/")
    assert page.url.endswith("/explorer")
    sth = demo_node.node.chain.sth
    expect(page.locator("#sth-size")).to_have_text(str(sth.tree_size))
    expect(page.locator("#sth-root")).to_have_text(sth.root_hash.hex())
    rows = page.locator("#blocks tbody tr")
    expect(rows.first.locator("td").first).to_have_text(str(sth.height))
    assert rows.count() == min(20, sth.height + 1)
    expect(page.locator("#head-height")).to_have_text(str(sth.height))
    expect(page.locator("#chain-id")).to_have_text("consortia-demo")
    expect(page.locator("#footer-node-key")).to_have_text(demo_node.node.key.public_key_hex)
    expect(page.get_by_text("payments.pay").first).to_be_visible()  # the demo ends paying


def test_explorer_pages_back_through_older_blocks(demo_node: RunningNode, page: Page) -> None:
    page.goto(demo_node.url + "/explorer?before=3")
    expect(page.locator("#blocks tbody tr td:first-child")).to_have_text(["2", "1", "0"])


def test_explorer_refreshes_the_blocks_list_live(demo_node: RunningNode, page: Page) -> None:
    page.goto(demo_node.url + "/explorer")
    before = demo_node.node.chain.head.height
    with demo_node.client() as client:
        client.send(demo_node.keys["harbor"], "notary.attest",
                    {"digest": hashlib.sha256(os.urandom(16)).hexdigest(), "label": "live"})
    height = demo_node.node.chain.head.height
    assert height > before
    first = page.locator("#blocks tbody tr").first.locator("td").first
    expect(first).to_have_text(str(height), timeout=6_000)
    expect(page.locator("#head-height")).to_have_text(str(height))


def test_search_by_tx_id_navigates_to_the_tx(demo_node: RunningNode, page: Page) -> None:
    tx_id = last_tx_id(demo_node, "notary.attest")
    page.goto(demo_node.url + "/explorer")
    page.fill("#q", tx_id.upper())
    page.press("#q", "Enter")
    page.wait_for_url(f"**/explorer/tx/{tx_id}")
    expect(page.locator("#tx-id")).to_have_text(tx_id)
    expect(page.locator("#tx-kind")).to_have_text("notary.attest")
    wait_for_receipt_check(page)


def test_search_by_height_navigates_to_the_block(demo_node: RunningNode, page: Page) -> None:
    page.goto(demo_node.url + "/explorer")
    page.fill("#q", "2")
    page.press("#q", "Enter")
    page.wait_for_url("**/explorer/blocks/2")
    expect(page.locator("h1")).to_have_text("Block 2")
    tx_id = demo_node.node.store.txs_of_block(2, 1)[0].tx_id.hex()
    expect(page.locator(f"a[href='/explorer/tx/{tx_id}']")).to_be_visible()


def test_tx_page_verifies_its_receipt_in_the_browser(demo_node: RunningNode,
                                                     page: Page) -> None:
    tx_id = last_tx_id(demo_node, "governance.propose")
    page.goto(f"{demo_node.url}/explorer/tx/{tx_id}")
    expect(page.locator("#result-status")).to_have_text("accepted")
    expect(page.locator("#node-key")).to_have_value(demo_node.node.key.public_key_hex)
    wait_for_receipt_check(page)
    expect(page.locator("#verdict")).to_have_text("Receipt verified")
    checks = page.locator("#checks li")
    expect(checks).to_have_count(4)
    for i in range(4):
        expect(checks.nth(i)).to_have_attribute("data-ok", "true")


def test_tx_page_downloads_the_receipt_it_checked(demo_node: RunningNode, page: Page) -> None:
    tx_id = last_tx_id(demo_node)
    page.goto(f"{demo_node.url}/explorer/tx/{tx_id}")
    wait_for_receipt_check(page)
    with page.expect_download() as info:
        page.click("#download-receipt")
    download = info.value
    assert download.suggested_filename == f"receipt-{tx_id}.json"
    receipt = json.loads(Path(download.path()).read_text())
    assert receipt["tx_id"] == tx_id
    assert receipt["result"] == httpx.get(f"{demo_node.url}/v1/tx/{tx_id}").json()["result"]


def test_a_pinned_foreign_key_fails_the_signature_check_until_forgotten(
        demo_node: RunningNode, page: Page) -> None:
    tx_id = last_tx_id(demo_node)
    page.goto(f"{demo_node.url}/explorer/tx/{tx_id}")
    wait_for_receipt_check(page)
    page.fill("#node-key", demo_node.keys["fro"].public_key_hex)
    expect(page.locator("#verdict")).to_have_text("Receipt INVALID: Tree head signed by node key")
    page.click("#pin-key")
    page.reload()
    wait_for_receipt_check(page)
    expect(page.locator("#node-key")).to_have_value(demo_node.keys["fro"].public_key_hex)
    expect(page.locator("#verdict")).to_have_text("Receipt INVALID: Tree head signed by node key")
    page.click("#unpin-key")
    expect(page.locator("#node-key")).to_have_value(demo_node.node.key.public_key_hex)
    expect(page.locator("#verdict")).to_have_text("Receipt verified")


def test_tx_payload_written_by_a_signer_shows_as_text(demo_node: RunningNode,
                                                      page: Page) -> None:
    label = "<img src=x id=injected onerror=alert(1)> & \"quotes\" é"
    with demo_node.client() as client:
        _, receipt = client.send(demo_node.keys["lotus"], "notary.attest",
                                 {"digest": hashlib.sha256(os.urandom(16)).hexdigest(),
                                  "label": label})
    page.goto(f"{demo_node.url}/explorer/tx/{receipt['tx_id']}")
    expect(page.locator("#tx-payload")).to_contain_text(json.dumps(label, ensure_ascii=False))
    assert page.locator("#injected").count() == 0
    wait_for_receipt_check(page)
    expect(page.locator("#verdict")).to_have_text("Receipt verified")


def test_unknown_tx_and_unknown_block_show_a_not_found_page(demo_node: RunningNode,
                                                           page: Page) -> None:
    response = page.goto(f"{demo_node.url}/explorer/tx/{'ab' * 32}")
    assert response is not None and response.status == 404
    expect(page.locator("#not-found h1")).to_have_text("Transaction not found")
    response = page.goto(f"{demo_node.url}/explorer/blocks/99999")
    assert response is not None and response.status == 404
    expect(page.locator("#not-found h1")).to_have_text("Block not found")
    expect(page.locator("#not-found")).to_contain_text("no block at height 99999")


@pytest.mark.parametrize("path", [
    f"/explorer/tx/{'ab' * 32}", "/explorer/tx/not-a-tx-id", "/explorer/blocks/99999",
    "/explorer/blocks/minus-one", "/explorer/blocks/99999999999999999999",
    "/explorer/blocks/9999999999999999999", "/governance/proposals/" + "cd" * 32,
])
def test_not_found_pages_answer_404_with_html(demo_node: RunningNode, path: str) -> None:
    response = httpx.get(demo_node.url + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "not found" in response.text


def test_search_for_nonsense_explains_what_it_takes(demo_node: RunningNode) -> None:
    response = httpx.get(demo_node.url + "/explorer/search", params={"q": "<b>hello</b>"})
    assert response.status_code == 400
    assert "64 hex characters" in response.text
    assert "&lt;b&gt;hello&lt;/b&gt;" in response.text


@pytest.fixture(scope="module")
def slow_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A node that waits 1.5 s before cutting a batch, so a tx stays pending a while."""
    yield from start_node(tmp_path_factory.mktemp("slow") / "node", demo=False,
                          batch_interval_ms=1_500)


def test_pending_tx_page_refreshes_until_the_receipt_verifies(slow_node: RunningNode,
                                                             page: Page) -> None:
    with slow_node.client() as client:
        stx = client.build(slow_node.keys["harbor"], "notary.attest",
                           {"digest": hashlib.sha256(b"pending").hexdigest(), "label": "p"})
        status = client.submit(stx)
    assert status["status"] == "pending"
    response = page.goto(f"{slow_node.url}/explorer/tx/{status['tx_id']}")
    assert response is not None and response.status == 200
    expect(page.locator("#pending")).to_be_visible()
    page.locator("#receipt[data-checked='true']").wait_for(timeout=8_000)
    expect(page.locator("#verdict")).to_have_text("Receipt verified")
