"""A whole QR purchase in Chromium: the merchant opens an order and shows its code, the wallet
uploads a screenshot of it, confirms and pays, the merchant's page updates by itself, and the
merchant refunds part. Also: the wallet's own codes, a foreign scheme's code, bad uploads."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from consortia.modules.currency import queries as currency
from consortia.modules.payments.codes import read_cpm
from tests.qr.samples import EMVCO_MPM
from tests.web.conftest import DESKTOP, TIMEOUT_MS, WalletNode, log_in

MERCHANT = "jade-teahouse"


def wallet_of(node: WalletNode, wallet_id: str) -> int:
    found = currency.wallet(node.node.chain.state, wallet_id)
    assert found is not None, wallet_id
    return found.balance_minor


@pytest.fixture(scope="module")
def shop(wallet_node: WalletNode) -> WalletNode:
    """The demo: the teahouse wallet settles merchant jade-teahouse."""
    return wallet_node


@pytest.fixture
def merchant_page(browser: Browser, shop: WalletNode) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, shop.url, "teahouse")
    yield page
    context.close()


def test_a_whole_purchase_with_a_screenshot_of_the_code(
        page: Page, merchant_page: Page, shop: WalletNode, tmp_path: Path) -> None:
    merchant_page.goto(shop.url + "/merchant")
    paid_before = Decimal(merchant_page.locator("#totals-paid").inner_text().replace(",", ""))
    merchant_page.fill("#amount", "18.80")
    merchant_page.fill("#order_id", "T-2001")
    merchant_page.click("#create-order")
    expect(merchant_page.locator("#order-status")).to_have_text("open")
    qr = merchant_page.locator("#order-qr")
    expect(qr).to_be_visible()
    merchant_page.wait_for_function(
        "document.getElementById('order-qr').naturalWidth > 0")
    screenshot = tmp_path / "order.png"
    qr.screenshot(path=str(screenshot))

    log_in(page, shop.url, "alice")
    page.goto(shop.url + "/pay")
    page.set_input_files("#image", str(screenshot))
    page.click("#upload")
    expect(page.locator("h1")).to_have_text("Pay Jade Teahouse")
    expect(page.locator("#confirm-amount")).to_have_text("18.80")
    expect(page.locator("#order-id")).to_have_text("T-2001")
    page.click("#pay")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")

    # The merchant's page updates by itself (events, or polling as a fallback).
    expect(merchant_page.locator("#order-status")).to_have_text("paid", timeout=8_000)
    row = merchant_page.locator("#payment-list tr[data-order='T-2001']")
    expect(row.locator(".amount")).to_have_text("18.80", timeout=8_000)
    paid_after = paid_before + Decimal("18.80")
    expect(merchant_page.locator("#totals-paid")).to_have_text(f"{paid_after:,}")

    # A partial refund, never more than was paid.
    row.locator("input[name=amount]").fill("20.00")
    row.locator("button").click()
    expect(merchant_page.locator("#outcome")).to_have_attribute("data-code",
                                                                "refund_exceeds_payment")
    row = merchant_page.locator("#payment-list tr[data-order='T-2001']")
    row.locator("input[name=amount]").fill("3.80")
    row.locator("button").click()
    expect(merchant_page.locator("#outcome")).to_have_attribute("data-accepted", "true")
    expect(merchant_page.locator("#payment-list tr[data-order='T-2001'] .refunded")
           ).to_have_text("3.80")

    # The paid order's code cannot be paid twice.
    page.goto(shop.url + "/pay")
    page.set_input_files("#image", str(screenshot))
    page.click("#upload")
    expect(page.locator("#not-payable")).to_contain_text("order T-2001 is paid")


def test_a_static_code_asks_the_payer_for_the_amount(page: Page, shop: WalletNode) -> None:
    log_in(page, shop.url, "chen")
    payload = page.request.get(f"{shop.url}/v1/payments/merchants/{MERCHANT}/qr").json()
    page.goto(shop.url + "/pay")
    page.fill("#payload", payload["payload"])
    page.click("#read")
    page.fill("#amount", "6.50")
    page.click("#pay")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")


def test_another_schemes_code_is_read_but_not_paid(page: Page, shop: WalletNode) -> None:
    log_in(page, shop.url, "chen")
    page.goto(shop.url + "/pay")
    page.fill("#payload", EMVCO_MPM.payload)
    page.click("#read")
    expect(page.locator("h1")).to_have_text("Pay BEST TRANSPORT")
    expect(page.locator("#not-payable")).to_contain_text("another payment scheme")


@pytest.mark.parametrize(("text", "says"), [
    ("hello", "not a payment code"),
    ("", "Scan, upload or paste"),
])
def test_unreadable_codes_say_why(page: Page, shop: WalletNode, text: str, says: str) -> None:
    log_in(page, shop.url, "chen")
    page.goto(shop.url + "/pay")
    page.fill("#payload", text)
    page.evaluate("document.getElementById('payload').removeAttribute('required')")
    page.click("#read")
    expect(page.locator("#scan-error")).to_contain_text(says)


def test_my_codes_a_fresh_payment_token_and_a_receive_code_someone_sends_to(page: Page,
                                                               shop: WalletNode) -> None:
    log_in(page, shop.url, "bob")
    page.goto(shop.url + "/pay/code")
    token = read_cpm(page.locator("#payment-code").text_content() or "")
    assert token.wallet_id == "bob"
    expect(page.locator("#payment-code-qr svg")).to_be_visible()
    receive = page.locator("#receive-code").text_content() or ""
    page.click("#logout")
    # Alice scans Bob's receive code and sends him 5.00: a transfer to his wallet.
    log_in(page, shop.url, "alice")
    bob_before = wallet_of(shop, "bob")
    page.goto(shop.url + "/pay")
    page.fill("#payload", receive)
    page.click("#read")
    expect(page.locator("h1")).to_have_text("Send to Bob Ho")
    page.fill("#amount", "5.00")
    page.click("#pay")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")
    assert wallet_of(shop, "bob") == bob_before + 500
