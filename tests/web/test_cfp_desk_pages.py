"""The certification desk, the lab desk and the vendor portal in a real browser (Chromium).

One node per module with the demo (its CFP part: the body ``fcc``, the lab ``pearl-lab``, the
vendors ``lotus-devices`` and ``jade-terminals``, four products) and the demo logins. Tests
share the chain and read what they check from the ledger.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from playwright.sync_api import Browser, FilePayload, Page, expect

from consortia.crypto.keys import SigningKey, verify
from consortia.demo.consortium import vendor_signing_key
from consortia.devices.client_app import client_app, default_app
from consortia.devices.common import serving
from consortia.modules.certification import queries
from consortia.modules.certification.logic import credential_message
from consortia.modules.certification.types import Certificate
from consortia.web.cfp_desk_pages import EVIDENCE_BYTES_MAX, FORM_BYTES_EXTRA
from tests.web.conftest import DESKTOP, TIMEOUT_MS, WalletNode, log_in

DOSSIER = b"Lotus Merchant SDK 1.0.0: application dossier"
PASTED = hashlib.sha256(b"a document the desk holds").hexdigest()


def certificate(node: WalletNode, ref: str) -> Certificate:
    found = queries.certificate(node.node.chain.state, ref)
    assert found is not None, ref
    return found


def by_model(node: WalletNode, vendor: str, model: str) -> Certificate:
    state = node.node.chain.state
    found = [c for c in queries.search(state, node.node.chain.head.time_ms, vendor=vendor)
             if c.model == model]
    assert len(found) == 1, (vendor, model)
    return found[0]


def new_page(browser: Browser, node: WalletNode, username: str) -> Page:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, node.url, username)
    return page


def accepted(page: Page) -> None:
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")


def test_the_desk_shows_the_seeded_queues(wallet_node: WalletNode, page: Page) -> None:
    log_in(page, wallet_node.url, "fcc-desk")
    page.wait_for_url("**/desk/certification")
    for queue, model in (("submitted", "LW-ANDROID"), ("testing", "LW-IOS"),
                         ("suspended", "JT-P8"), ("valid", "JT-Q1")):
        expect(page.locator(f"#table-{queue} tr[data-model='{model}']")).to_have_count(1)
    expect(page.locator("#table-testing tr[data-model='LW-IOS']")).to_contain_text("pearl-lab")
    expect(page.locator("#queues-empty")).to_contain_text("Renewal reviews")
    expect(page.locator("#draw")).to_contain_text(
        f"now {wallet_node.node.chain.head.height}")


def test_an_application_goes_through_desk_and_lab_to_a_certificate_with_devices(
        wallet_node: WalletNode, browser: Browser) -> None:
    url = wallet_node.url
    # The vendor applies, with its dossier attached: the page records the file's SHA-256.
    vendor = new_page(browser, wallet_node, "lotus-devices")
    vendor.goto(url + "/vendor?product_type=CLIENT_SW")
    expect(vendor.locator("#apply-standards")).to_have_value(
        "JR/T 0092\nJR/T 0098.3\nT/PCAC 0006")
    for field, value in (("#apply-name", "Lotus Merchant SDK"), ("#apply-model", "LMS-1"),
                         ("#apply-version", "1.0.0"), ("#apply-factory", "Lotus build centre"),
                         ("#apply-scope", "merchant payment SDK")):
        vendor.fill(field, value)
    dossier: FilePayload = {"name": "dossier.txt", "mimeType": "text/plain", "buffer": DOSSIER}
    vendor.set_input_files("#apply-file", files=[dossier])
    vendor.click("#apply-button")
    vendor.wait_for_url("**/vendor/certificates/*?tx=*")
    accepted(vendor)
    cert = by_model(wallet_node, "lotus-devices", "LMS-1")
    assert cert.status == "submitted"
    history = queries.history(wallet_node.node.chain.state, cert.id)
    assert history[0].evidence == hashlib.sha256(DOSSIER).hexdigest()

    # The body accepts it and assigns the lab.
    desk = new_page(browser, wallet_node, "fcc-desk")
    desk.click("#table-submitted tr[data-model='LMS-1'] a")
    desk.fill("#accept-evidence", PASTED)
    desk.click("#accept-button")
    accepted(desk)
    expect(desk.locator("#cert-status")).to_contain_text("accepted")
    desk.select_option("#assign_lab-lab", "pearl-lab")
    desk.fill("#assign_lab-evidence", PASTED)
    desk.click("#assign-button")
    accepted(desk)
    expect(desk.locator("#outcome")).to_contain_text("Assign application")
    expect(desk.locator("#cert-lab")).to_have_text("pearl-lab")

    # The lab reports by hand, item by item.
    lab = new_page(browser, wallet_node, "pearl-lab")
    lab.click(f"#table-testing tr[data-id='{cert.id}'] a")
    items = lab.locator("#report-form li[data-item]")
    expect(items).to_have_count(6)
    for item in items.all():
        item.locator("input[value='pass']").check()
    lab.fill("#note-CS-02", "TLS 1.3 only")
    lab.fill("#report-evidence", PASTED)
    lab.click("#report-button")
    accepted(lab)
    expect(lab.locator("#outcome")).to_contain_text("6 of 6 items passed")
    expect(lab.locator("#test-report tr[data-item='CS-02']")).to_contain_text("TLS 1.3 only")
    assert certificate(wallet_node, cert.id).status == "test_passed"

    # The body checks on site and issues: the outcome names the new certificate number.
    desk.goto(f"{url}/desk/certification/certificates/{cert.id}")
    desk.fill("#onsite_check-evidence", PASTED)
    desk.click("#onsite-passed-button")
    accepted(desk)
    desk.fill("#decide-evidence", PASTED)
    desk.click("#issue-button")
    accepted(desk)
    number = certificate(wallet_node, cert.id).number
    assert re.fullmatch(r"CFP-[0-9]{4}-[0-9]{6}", number)
    expect(desk.locator("#outcome-number")).to_have_text(number)
    desk.wait_for_url(f"**/desk/certification/certificates/{number}?tx=*")

    # The vendor sees it valid and registers a device: the portal signs its credential.
    vendor.goto(url + "/vendor")
    row = vendor.locator(f"#my-certificates tr[data-ref='{number}']")
    expect(row).to_contain_text("valid")
    row.locator("a").click()
    expect(vendor.locator("#registry-link")).to_have_attribute(
        "href", f"/cfp/certificates/{number}")
    device = SigningKey.generate().public_key_hex
    vendor.fill("#device-key", device)
    vendor.click("#register_device-button")
    accepted(vendor)
    expect(vendor.locator(f"#devices-table tr[data-device='{device}']")).to_have_count(1)
    shown = httpx.get(f"{url}/v1/certification/devices/{device}").json()
    assert shown["admitted"] is True and shown["certificate"] == number
    credential = shown["credential"]
    vendor_key = queries.vendor(wallet_node.node.chain.state, "lotus-devices")
    assert vendor_key is not None and credential["vendor_key"] == vendor_key.key
    assert verify(bytes.fromhex(vendor_key.key),
                  credential_message(device, number, "LMS-1", "1.0.0", vendor_key.key),
                  bytes.fromhex(credential["signature"]))

    # … and applies to renew it.
    vendor.fill("#apply_renewal-evidence", PASTED)
    vendor.click("#apply_renewal-button")
    accepted(vendor)
    expect(vendor.locator("#cert-status")).to_contain_text("renewal review")
    for context in (vendor.context, desk.context, lab.context):
        context.close()


def test_the_lab_runs_the_conformance_suite_against_the_prototype_and_reports(
        wallet_node: WalletNode, page: Page) -> None:
    """The demo's wallet app in testing, examined against the reference wallet app signed by
    its vendor's key: every item passes and the report goes to the ledger."""
    cert = by_model(wallet_node, "lotus-devices", "LW-IOS")
    assert cert.status == "testing"
    vendor = vendor_signing_key(wallet_node.running.data_dir, "lotus-devices")
    log_in(page, wallet_node.url, "pearl-lab")
    page.click(f"#table-testing tr[data-id='{cert.id}'] a")
    with serving(client_app(default_app(vendor))) as prototype:
        page.fill("#run-url", prototype)
        page.click("#run-button", timeout=90_000)
        expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true",
                                                           timeout=90_000)
    expect(page.locator("#run h2")).to_have_text("Conformance run: every item passed")
    expect(page.locator("#run-items tr[data-item]")).to_have_count(6)
    after = certificate(wallet_node, cert.id)
    assert after.status == "test_passed" and len(after.test_report) == 6
    digest = page.locator("#run-digest").inner_text()
    assert queries.history(wallet_node.node.chain.state, cert.id)[-1].evidence == digest
    document = json.loads(page.locator("#run-document").text_content() or "")
    assert document["certificate"] == cert.id and document["passed"] is True


def test_a_refused_revocation_shows_the_ledgers_words_and_changes_nothing(
        wallet_node: WalletNode, page: Page) -> None:
    valid = by_model(wallet_node, "jade-terminals", "JT-Q1")
    log_in(page, wallet_node.url, "fcc-desk")
    page.goto(f"{wallet_node.url}/desk/certification/certificates/{valid.number}")
    page.select_option("#revoke-reason", "not_corrected")
    page.fill("#revoke-evidence", PASTED)
    page.click("#revoke-button")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "false")
    expect(page.locator("#outcome")).to_have_attribute("data-code", "illegal_transition")
    expect(page.locator("#outcome-detail")).to_contain_text(
        f"revoke: {valid.number} cannot go from valid to revoked unless the reason is "
        "serious_defect (suspend it first)")
    after = certificate(wallet_node, valid.id)
    assert (after.status, after.history_count) == ("valid", valid.history_count)

    # A bad form is refused by the page before anything is signed.
    height = wallet_node.node.chain.head.height
    page.select_option("#suspend-reason", "other")
    page.fill("#suspend-reason-other", "Not A Code")
    page.fill("#suspend-deadline", "2031-01-31")
    page.fill("#suspend-evidence", PASTED)
    page.click("#suspend-button")
    expect(page.locator("#suspend-error")).to_contain_text("A reason is a code")
    assert wallet_node.node.chain.head.height == height

    # The body publishes the certificate's mark, signed with its key.
    page.click("#publish-mark-button")
    accepted(page)
    expect(page.locator("#outcome")).to_contain_text(f"Publish the mark of {valid.number}")


def test_a_random_draw_opens_an_inspection_whose_pass_is_recorded(
        wallet_node: WalletNode, page: Page) -> None:
    log_in(page, wallet_node.url, "fcc-desk")
    page.fill("#draw-count", "1")
    page.select_option("#draw-stage", "warehouse")
    page.click("#draw-button")
    accepted(page)
    expect(page.locator("#outcome")).to_contain_text("Selected for inspection: CFP-")
    row = page.locator("#inspections-table tr[data-inspection]").first
    number = row.get_attribute("data-certificate")
    assert number is not None
    before = certificate(wallet_node, number).history_count
    row.locator("a").click()
    page.select_option("#inspection-outcome-select", "pass")
    page.fill("#inspection-evidence", PASTED)
    page.click("#inspection-button")
    accepted(page)
    expect(page.locator("#inspection-outcome")).to_contain_text("pass")
    changes = queries.history(wallet_node.node.chain.state, number)
    assert len(changes) == before + 1 and changes[-1].action == "inspection_pass"


@contextmanager
def _client(node: WalletNode, username: str) -> Iterator[httpx.Client]:
    """An HTTP client logged in as ``username`` (no browser: these tests read status codes)."""
    with httpx.Client(base_url=node.url) as client:
        response = client.post("/login", data={"username": username,
                                               "password": f"{username}-demo"})
        assert response.status_code == 303, response.text
        yield client


def _csrf(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def test_each_login_reaches_only_its_own_pages(wallet_node: WalletNode) -> None:
    for path in ("/desk/certification", "/desk/lab", "/vendor"):
        response = httpx.get(wallet_node.url + path)
        assert response.status_code == 303 and response.headers["location"].startswith(
            "/login?next="), path
    refused = {"alice": ("/desk/certification", "/desk/lab", "/vendor"),
               "harbor-desk": ("/desk/certification", "/desk/lab", "/vendor"),
               "jade-terminals": ("/desk/certification", "/desk/lab"),
               "pearl-lab": ("/desk/certification", "/vendor"),
               "fcc-desk": ("/desk/lab", "/vendor")}
    for username, paths in refused.items():
        with _client(wallet_node, username) as client:
            for path in paths:
                assert client.get(path).status_code == 403, (username, path)
    for username, home in (("jade-terminals", "/vendor"), ("pearl-lab", "/desk/lab"),
                           ("fcc-desk", "/desk/certification")):
        with _client(wallet_node, username) as client:
            assert client.get("/desk").headers["location"] == home, username


def test_a_vendor_cannot_act_on_another_vendors_certificate(wallet_node: WalletNode) -> None:
    theirs = by_model(wallet_node, "lotus-devices", "LW-ANDROID")
    height = wallet_node.node.chain.head.height
    with _client(wallet_node, "jade-terminals") as jade:
        assert jade.get(f"/vendor/certificates/{theirs.id}").status_code == 403
        response = jade.post(f"/vendor/certificates/{theirs.id}/cancel", data={
            "csrf": _csrf(jade, "/vendor"), "reason": "holder_request", "evidence": PASTED})
        assert response.status_code == 403
    with _client(wallet_node, "pearl-lab") as lab:
        assert lab.get(f"/desk/lab/certificates/{theirs.id}").status_code == 403
    assert wallet_node.node.chain.head.height == height
    assert certificate(wallet_node, theirs.id) == theirs


def test_desk_forms_need_the_sessions_token_and_a_bounded_document(
        wallet_node: WalletNode) -> None:
    submitted = by_model(wallet_node, "lotus-devices", "LW-ANDROID")
    path = f"/desk/certification/certificates/{submitted.id}/accept"
    height = wallet_node.node.chain.head.height
    with _client(wallet_node, "fcc-desk") as desk:
        form = {"reason": "application_complete", "evidence": PASTED}
        assert desk.post(path, data=form).status_code == 403
        assert desk.post(path, data={**form, "csrf": "forged"}).status_code == 403
        csrf = _csrf(desk, "/desk/certification")
        huge = b"x" * (EVIDENCE_BYTES_MAX + FORM_BYTES_EXTRA + 1)
        response = desk.post(path, data={"csrf": csrf, "reason": "application_complete"},
                             files={"evidence_file": ("big.bin", huge)})
        assert response.status_code == 413 and "at most 8 MiB" in response.text
    assert wallet_node.node.chain.head.height == height
    assert certificate(wallet_node, submitted.id) == submitted
