"""The public CFP registry in a real browser: search, a certificate with "was it valid at T?"
proven in the browser, the catalogue, vendors, and scanning a mark from an uploaded picture."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from consortia.crypto.keys import SigningKey
from consortia.modules.certification.mark import mark_payload, sign_mark
from consortia.sdk.client import Client
from tests.api.certification.support import VENDOR, Registry, certify, issue, send_ok, step
from tests.web.conftest import TIMEOUT_MS, start_node

OTHER_VENDOR = "globex"


@dataclass
class Cfp:
    """A node with acme's certificate (its mark published) and one of globex."""

    registry: Registry
    other_number: str

    @property
    def url(self) -> str:
        return self.registry.url

    def client(self) -> Client:
        return self.registry.node.client()

    def new_certificate(self, model: str) -> str:
        with self.client() as client:
            _, number = issue(client, self.registry.body, self.registry.lab,
                              self.registry.vendor, model=model)
        return number

    def publish_mark(self, number: str) -> str:
        signature = sign_mark(self.registry.body, number, VENDOR)
        with self.client() as client:
            send_ok(client, self.registry.body, "publish_mark",
                    {"certificate": number, "signature": signature})
        return signature


@pytest.fixture(scope="module")
def cfp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cfp]:
    for running in start_node(tmp_path_factory.mktemp("cfp") / "node", demo=False):
        registry = certify(running)  # runs the demo, then issues acme's POS certificate
        globex = SigningKey.generate()
        with running.client() as client:
            send_ok(client, globex, "register_vendor",
                    {"id": OTHER_VENDOR, "legal_name": "Globex Fintech Ltd.",
                     "address": "88 Century Avenue, Shanghai"})
            _, other = issue(client, registry.body, registry.lab, globex, model="GX-1")
        built = Cfp(registry, other)
        built.publish_mark(registry.number)
        yield built


def mark_png(cfp: Cfp, number: str) -> bytes:
    response = httpx.get(f"{cfp.url}/v1/certification/certificates/{number}/mark.png")
    assert response.status_code == 200
    return response.content


def picture_file(name: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": "image/png", "buffer": data}


def upload_mark(page: Page, cfp: Cfp, picture: bytes) -> None:
    page.goto(cfp.url + "/cfp/mark")
    page.set_input_files("#image", files=[picture_file("mark.png", picture)])
    page.click("#check-image")
    page.wait_for_url("**/cfp/mark/CFP-*")


def wait_for_proof(page: Page, section: str) -> None:
    page.locator(f"#{section}[data-checked='true']").wait_for()


def assert_fits_the_phone(page: Page) -> None:
    """Nothing wider than the phone's screen (wide tables scroll inside their own box)."""
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths


def results(page: Page) -> list[str]:
    numbers: list[str] = page.locator("#results tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.number)")
    return numbers


# -- search -------------------------------------------------------------------------------------

def test_search_by_vendor_and_status(cfp: Cfp, page: Page) -> None:
    page.goto(cfp.url + "/explorer")
    page.click("nav >> text=CFP registry")
    page.wait_for_url("**/cfp")
    assert {cfp.registry.number, cfp.other_number} <= set(results(page))
    page.fill("#vendor", VENDOR)
    page.select_option("#status", "valid")
    page.click("#search-button")
    page.wait_for_url("**/cfp?*vendor=acme*")
    found = results(page)
    assert cfp.registry.number in found and cfp.other_number not in found
    expect(page.locator(f"#results tr[data-number='{cfp.registry.number}']")).to_contain_text(
        "valid")
    page.select_option("#status", "revoked")
    page.click("#search-button")
    expect(page.locator("#no-results")).to_be_visible()
    page.goto(cfp.url + "/cfp?product_type=POS&expiring_days=3650")
    expect(page.locator("#product_type")).to_have_value("POS")
    assert cfp.registry.number in results(page)
    page.goto(cfp.url + "/cfp?expiring_days=30")
    expect(page.locator("#no-results")).to_be_visible()


def test_search_works_without_javascript(cfp: Cfp, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(cfp.url + "/cfp")
        page.fill("#vendor", OTHER_VENDOR)
        page.click("#search-button")
        assert results(page) == [cfp.other_number]
        page.fill("#q", cfp.other_number.lower())
        page.click("#open-number")
        page.wait_for_url(f"**/cfp/certificates/{cfp.other_number}")
        expect(page.locator("#cert-status")).to_have_text("valid")
    finally:
        context.close()


def test_a_bad_number_or_filter_says_why(cfp: Cfp, page: Page) -> None:
    page.goto(cfp.url + "/cfp?q=CFP-1999-000001")
    expect(page.locator("#search-errors")).to_contain_text("No certificate numbered")
    page.goto(cfp.url + "/cfp?expiring_days=0")
    expect(page.locator("#search-errors")).to_contain_text("Expiring within")


# -- a certificate ------------------------------------------------------------------------------

def test_open_a_certificate_and_prove_it_was_valid_at_a_time(cfp: Cfp, page: Page) -> None:
    number = cfp.registry.number
    page.goto(cfp.url + "/cfp")
    page.fill("#q", number)
    page.click("#open-number")
    page.wait_for_url(f"**/cfp/certificates/{number}")
    expect(page.locator("#cert-status")).to_have_text("valid")
    expect(page.locator("#product-type")).to_contain_text("支付销售点(POS)终端")
    expect(page.locator("#product-type")).to_contain_text("point-of-sale terminal")
    expect(page.locator("#holder")).to_contain_text("Acme Payment Terminals")
    expect(page.locator("#mark-image")).to_be_visible()
    assert_fits_the_phone(page)
    expect(page.locator("#mark-uses")).to_have_count(0)
    history = page.locator("#history tbody tr")
    expect(history.last).to_have_attribute("data-action", "decide")
    href = history.last.locator("a").get_attribute("href")
    assert href is not None and href.startswith("/explorer/tx/")
    for link in ("#pdf-link", "#json-link"):
        target = page.locator(link).get_attribute("href")
        assert page.request.get(cfp.url + str(target)).status == 200

    after_issue = datetime.fromtimestamp(cfp.registry.issued_ms // 1000 + 1, tz=UTC)
    page.fill("#at", after_issue.strftime("%Y-%m-%dT%H:%M:%S"))
    page.click("#valid-at-button")
    page.wait_for_url("**at=*")
    expect(page.locator("#valid-at-answer")).to_contain_text("Valid at")
    wait_for_proof(page, "valid-at")
    expect(page.locator("#verdict")).to_have_attribute("data-state", "ok")
    expect(page.locator("#verdict")).to_have_text("Proof verified")
    expect(page.locator("#checks li[data-ok='true']")).to_contain_text("decide → valid")

    # Before the application there is no change in effect, so nothing to prove.
    page.fill("#at", "2001-01-01T00:00:00")
    page.click("#valid-at-button")
    expect(page.locator("#valid-at-answer")).to_contain_text("Not valid at")
    expect(page.locator("#valid-at-answer")).to_contain_text("not yet applied for")
    expect(page.locator("#verdict")).to_have_count(0)


def test_a_proof_checked_against_another_key_fails(cfp: Cfp, page: Page) -> None:
    at = datetime.fromtimestamp(cfp.registry.issued_ms // 1000 + 1, tz=UTC)
    page.goto(f"{cfp.url}/cfp/certificates/{cfp.registry.number}"
              f"?at={at.strftime('%Y-%m-%dT%H:%M:%S')}")
    wait_for_proof(page, "valid-at")
    page.fill("#node-key", SigningKey.generate().public_key_hex)
    expect(page.locator("#verdict")).to_have_attribute("data-state", "bad")
    expect(page.locator("#checks")).to_contain_text("another node key")


def test_catalogue_and_vendor_pages(cfp: Cfp, page: Page) -> None:
    page.goto(cfp.url + "/cfp/types")
    expect(page.locator("#types tbody tr")).to_have_count(11)
    expect(page.locator("#types tr[data-code='TEE']")).to_contain_text("移动终端可信执行环境")
    page.goto(cfp.url + f"/cfp/vendors/{VENDOR}")
    expect(page.locator("#vendor-name")).to_have_text("Acme Payment Terminals Co., Ltd.")
    assert cfp.registry.number in results(page)


# -- the mark -----------------------------------------------------------------------------------

def test_scan_an_uploaded_mark_genuine_valid_then_revoked(cfp: Cfp, page: Page) -> None:
    number = cfp.new_certificate("SP-M1")
    cfp.publish_mark(number)
    picture = mark_png(cfp, number)
    upload_mark(page, cfp, picture)
    assert f"/cfp/mark/{number}?s=" in page.url
    expect(page.locator("#mark-verdict")).to_have_attribute("data-valid", "true")
    expect(page.locator("#mark-verdict")).to_contain_text("Genuine mark · certificate valid")
    wait_for_proof(page, "mark-proof")
    expect(page.locator("#verdict")).to_have_text("Proof verified")
    expect(page.locator("#checks li")).to_have_count(4)
    assert_fits_the_phone(page)
    expect(page.locator("#checks")).to_contain_text("Mark signed by the issuing body")

    with cfp.client() as client:
        send_ok(client, cfp.registry.body, "revoke", step(number, "serious_defect"))
    upload_mark(page, cfp, picture)
    expect(page.locator("#mark-verdict")).to_have_attribute("data-valid", "false")
    expect(page.locator("#mark-verdict")).to_contain_text("Genuine mark · certificate revoked")
    expect(page.locator("#mark-verdict")).to_contain_text("not valid")
    wait_for_proof(page, "mark-proof")
    expect(page.locator("#verdict")).to_have_text("Proof verified")
    expect(page.locator("#checks")).to_contain_text("revoke → revoked")

    # The certificate page proves it was not valid after the revocation.
    revoked_ms = httpx.get(f"{cfp.url}/v1/certification/certificates/{number}").json()[
        "history"][-1]["time_ms"]
    at = datetime.fromtimestamp(revoked_ms // 1000 + 1, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    page.goto(f"{cfp.url}/cfp/certificates/{number}?at={at}")
    expect(page.locator("#cert-status")).to_have_text("revoked")
    expect(page.locator("#not-usable")).to_be_visible()
    expect(page.locator("#valid-at-answer")).to_contain_text("Not valid at")
    wait_for_proof(page, "valid-at")
    expect(page.locator("#verdict")).to_have_text("Proof verified")


def test_a_pasted_forged_mark_is_not_genuine(cfp: Cfp, page: Page) -> None:
    forged = sign_mark(SigningKey.generate(), cfp.registry.number, VENDOR)
    page.goto(cfp.url + "/cfp/mark")
    page.fill("#payload", mark_payload("https://elsewhere.example", cfp.registry.number, forged))
    page.click("#check-payload")
    page.wait_for_url("**/cfp/mark/CFP-*")
    assert page.url.startswith(cfp.url)  # checked here, whatever host the mark names
    expect(page.locator("#mark-verdict")).to_contain_text("NOT a genuine mark")
    expect(page.locator("#mark-verdict")).to_contain_text("forged")
    wait_for_proof(page, "mark-proof")
    expect(page.locator("#verdict")).to_have_text("Proof verified")


def test_a_picture_without_a_mark_says_so(cfp: Cfp, page: Page) -> None:
    page.goto(cfp.url + "/cfp/mark")
    page.set_input_files("#image", files=[picture_file("x.png", b"not a picture")])
    page.click("#check-image")
    expect(page.locator("#scan-error")).to_contain_text("not a PNG or JPEG")
    page.fill("#payload", "https://example.org/hello")
    page.click("#check-payload")
    expect(page.locator("#scan-error")).to_contain_text("not a CFP mark")
