"""Issue 4's walk-through in Chromium, through the pages only: a wallet app goes from the
vendor's application to a certificate (desk, lab with the conformance suite, desk); a wallet's
app instance registered as a device of that product pays; the body revokes the certificate and
the device's next payment is refused with the reason, while nothing moves."""

from __future__ import annotations

import hashlib

from playwright.sync_api import Browser, FilePayload, Page, expect

from consortia.demo.consortium import vendor_signing_key
from consortia.devices.client_app import client_app, default_app
from consortia.devices.common import serving
from consortia.modules.certification import queries
from consortia.modules.certification.types import Certificate
from consortia.modules.currency import queries as currency
from tests.web.conftest import DESKTOP, PHONE, TIMEOUT_MS, WalletNode, log_in

PASTED = hashlib.sha256(b"the body's file on this step").hexdigest()
MODEL = "LW-WEB"


def open_as(browser: Browser, node: WalletNode, username: str,
            viewport: dict[str, int] = DESKTOP) -> Page:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, node.url, username)
    return page


def accepted(page: Page) -> None:
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")


def the_application(node: WalletNode) -> Certificate:
    state = node.node.chain.state
    found = [c for c in queries.search(state, node.node.chain.head.time_ms,
                                       vendor="lotus-devices") if c.model == MODEL]
    assert len(found) == 1
    return found[0]


def balance(node: WalletNode, wallet_id: str) -> int:
    wallet = currency.wallet(node.node.chain.state, wallet_id)
    assert wallet is not None
    return wallet.balance_minor


def pay_with_the_app(wallet: Page, amount: str) -> None:
    wallet.goto(wallet.url.split("/wallet")[0] + "/wallet")
    wallet.fill("#to", "teahouse")
    wallet.fill("#amount", amount)
    wallet.check("#sign-device")
    wallet.click("#send")


def test_application_to_certificate_to_device_payment_then_revoked_and_refused(
        wallet_node: WalletNode, browser: Browser) -> None:
    url = wallet_node.url

    # 1. The vendor applies for its web wallet app (client software), dossier attached.
    vendor = open_as(browser, wallet_node, "lotus-devices")
    vendor.goto(url + "/vendor?product_type=CLIENT_SW")
    for field, value in (("#apply-name", "Lotus Web Wallet"), ("#apply-model", MODEL),
                         ("#apply-version", "1.0.0"), ("#apply-factory", "Lotus build centre"),
                         ("#apply-scope", "custodial wallet app for people")):
        vendor.fill(field, value)
    dossier: FilePayload = {"name": "dossier.txt", "mimeType": "text/plain",
                            "buffer": b"Lotus Web Wallet 1.0.0: application dossier"}
    vendor.set_input_files("#apply-file", files=[dossier])
    vendor.click("#apply-button")
    accepted(vendor)
    application = the_application(wallet_node)
    assert application.status == "submitted"

    # 2. The certification body accepts it and sends it to the test lab.
    desk = open_as(browser, wallet_node, "fcc-desk")
    desk.goto(f"{url}/desk/certification/certificates/{application.id}")
    desk.fill("#accept-evidence", PASTED)
    desk.click("#accept-button")
    accepted(desk)
    desk.select_option("#assign_lab-lab", "pearl-lab")
    desk.fill("#assign_lab-evidence", PASTED)
    desk.click("#assign-button")
    accepted(desk)

    # 3. The lab runs the conformance suite against the vendor's prototype: every item passes
    #    and the signed test report goes to the ledger.
    lab = open_as(browser, wallet_node, "pearl-lab")
    lab.goto(f"{url}/desk/lab/certificates/{application.id}")
    prototype_vendor = vendor_signing_key(wallet_node.running.data_dir, "lotus-devices")
    with serving(client_app(default_app(prototype_vendor))) as prototype:
        lab.fill("#run-url", prototype)
        lab.click("#run-button", timeout=90_000)
        expect(lab.locator("#outcome")).to_have_attribute("data-accepted", "true",
                                                          timeout=90_000)
    expect(lab.locator("#run h2")).to_have_text("Conformance run: every item passed")
    assert the_application(wallet_node).status == "test_passed"

    # 4. On-site check and decision: the certificate is issued.
    desk.goto(f"{url}/desk/certification/certificates/{application.id}")
    desk.fill("#onsite_check-evidence", PASTED)
    desk.click("#onsite-passed-button")
    accepted(desk)
    desk.fill("#decide-evidence", PASTED)
    desk.click("#issue-button")
    accepted(desk)
    number = the_application(wallet_node).number
    expect(desk.locator("#outcome-number")).to_have_text(number)

    # 5. Alice's app instance gets its own device key; the vendor registers it under the new
    #    certificate (publishing the credential it signs); Alice lets it pay from her wallet.
    wallet = open_as(browser, wallet_node, "alice", PHONE)
    wallet.click("#device-new")
    device_key = wallet.locator("#device-key").inner_text()
    expect(wallet.locator("#device-registration")).to_contain_text("not yet")
    vendor.goto(f"{url}/vendor/certificates/{number}")
    vendor.fill("#device-key", device_key)
    vendor.click("#register_device-button")
    accepted(vendor)
    wallet.goto(url + "/wallet")
    expect(wallet.locator("#device-status")).to_have_text("valid")
    wallet.click("#device-bind")
    accepted(wallet)

    # 6. A payment by the device: signed by its key, carrying its credential.
    teahouse_before = balance(wallet_node, "teahouse")
    pay_with_the_app(wallet, "12.00")
    accepted(wallet)
    tx_id = (wallet.locator("#outcome-link").get_attribute("href") or "").rsplit("/", 1)[-1]
    status = wallet_node.node.tx_status(bytes.fromhex(tx_id), device_key)
    assert status is not None and status["status"] == "committed"
    assert status["tx"]["tx"]["signer"] == device_key
    assert status["tx"]["tx"]["device"]["product_id"] == number
    assert balance(wallet_node, "teahouse") == teahouse_before + 1_200

    # 7. The body revokes the certificate for a serious defect.
    desk.goto(f"{url}/desk/certification/certificates/{number}")
    desk.select_option("#revoke-reason", "serious_defect")
    desk.fill("#revoke-evidence", PASTED)
    desk.click("#revoke-button")
    accepted(desk)

    # 8. The device's next payment is refused, with the reason, and nothing moves.
    alice_before = balance(wallet_node, "alice")
    pay_with_the_app(wallet, "12.00")
    expect(wallet.locator("#outcome")).to_have_attribute("data-accepted", "false")
    expect(wallet.locator("#outcome")).to_have_attribute("data-code", "device_not_admitted")
    expect(wallet.locator("#outcome-detail")).to_contain_text(
        f"This app is not admitted as a certified device: product certificate {number} is "
        "revoked")
    assert balance(wallet_node, "alice") == alice_before
    assert balance(wallet_node, "teahouse") == teahouse_before + 1_200
    expect(wallet.locator("#device-status")).to_have_text("revoked")
    for page in (vendor, desk, lab, wallet):
        page.context.close()
