"""The custodial web wallet and the desks in a real browser (Debian's Chromium).

One node per module with the demo economy (CNY and HKD, banks, wallets) and the demo logins.
Tests run in file order and share the chain, so each reads the balances it checks from the
ledger instead of assuming them.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect

from consortia.demo.consortium import wallet_owner_key
from consortia.modules.currency import queries
from consortia.modules.currency.amounts import format_amount
from consortia.modules.currency.types import Wallet
from consortia.sdk.client import Client
from consortia.web.currency_views import KIND_WORDS, money
from tests.web.conftest import DESKTOP, PHONE, WalletNode, log_in

SHOTS = Path("/tmp/shots")


def wallet_of(node: WalletNode, wallet_id: str) -> Wallet:
    found = queries.wallet(node.node.chain.state, wallet_id)
    assert found is not None, wallet_id
    return found


def balance_text(node: WalletNode, wallet_id: str) -> str:
    return money(wallet_of(node, wallet_id).balance_minor, 2)


def csrf_of(page: Page) -> str:
    value = page.locator("input[name=csrf]").first.get_attribute("value")
    assert value
    return value


# -- logging in --------------------------------------------------------------------------------

def test_a_wrong_password_is_refused_with_one_generic_message(wallet_node: WalletNode,
                                                               page: Page) -> None:
    for username, password in [("alice", "not-her-password"), ("nobody", "whatever-pw")]:
        page.goto(wallet_node.url + "/login")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("#login-button")
        expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
        assert page.url.endswith("/login")
    page.goto(wallet_node.url + "/wallet")
    page.wait_for_url("**/login?next=/wallet")


def test_pages_for_people_need_a_login(wallet_node: WalletNode) -> None:
    for path in ("/wallet", "/desk/bank", "/desk/central-bank", "/wallets/alice",
                 "/wallets/alice/statement.csv"):
        response = httpx.get(wallet_node.url + path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=/"), path


# -- the wallet --------------------------------------------------------------------------------

def test_alice_pays_bob_and_sees_the_entry_and_its_verified_receipt(wallet_node: WalletNode,
                                                                    page: Page) -> None:
    log_in(page, wallet_node.url, "alice")
    assert page.url.endswith("/wallet")
    before = wallet_of(wallet_node, "alice")
    expect(page.locator("#balance")).to_have_text(balance_text(wallet_node, "alice"))
    expect(page.locator("#tier")).to_contain_text(before.tier)
    expect(page.locator("#who")).to_have_text("alice")

    page.fill("#to", "bob")
    page.fill("#amount", "12.34")
    page.fill("#memo", "Dumplings <b>&</b>")
    page.click("#send")
    page.wait_for_url("**/wallet?tx=*")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")
    expect(page.locator("#outcome")).to_contain_text("Send 12.34 CNY to bob")

    after = wallet_of(wallet_node, "alice")
    assert after.balance_minor == before.balance_minor - 1234
    expect(page.locator("#balance")).to_have_text(money(after.balance_minor, 2))
    newest = page.locator("#entries .entry").first
    expect(newest).to_have_attribute("data-kind", "transfer_out")
    expect(newest.locator(".entry-what")).to_have_text("Sent · bob")
    expect(newest.locator(".entry-memo")).to_have_text("“Dumplings <b>&</b>”")
    expect(newest.locator(".amount")).to_have_text("-12.34")
    expect(newest.locator(".running")).to_have_text(money(after.balance_minor, 2))

    tx_id = page.url.rsplit("=", 1)[1]
    newest.locator(".receipt-link").click()
    page.wait_for_url(f"**/explorer/tx/{tx_id}")
    # Alice signed it: she sees its content.
    expect(page.locator("#tx-kind")).to_have_text("currency.transfer")
    expect(page.locator("#tx-payload")).to_contain_text('"to_wallet": "bob"')
    page.locator("#receipt[data-checked='true']").wait_for()
    expect(page.locator("#verdict")).to_have_text("Receipt verified")


def test_the_daily_limit_refusal_is_in_plain_words_and_changes_nothing(
        wallet_node: WalletNode, page: Page) -> None:
    node = wallet_node.node
    state = node.chain.state
    alice = wallet_of(wallet_node, "alice")
    tier = next(t for t in queries.tiers(state, "CNY") if t.tier == alice.tier)
    # Spend from alice's key straight to the ledger until less than one payment's worth of
    # today's allowance is left, so one allowed-size payment goes over the daily limit.
    with Client(wallet_node.url) as client:
        harbor = wallet_node.running.keys["harbor"]
        alice_key = wallet_owner_key(wallet_node.running.data_dir, "alice")
        while True:
            alice = wallet_of(wallet_node, "alice")
            left = tier.daily_max_minor - queries.spent_today_minor(
                state, alice, int(time.time() * 1000))
            if left < tier.payment_max_minor:
                break
            chunk = min(tier.payment_max_minor, left)
            if alice.balance_minor < chunk:
                client.send(harbor, "currency.distribute",
                            {"wallet_id": "alice", "amount": format_amount(chunk, 2)})
            result, _ = client.send(alice_key, "currency.transfer",
                                    {"from_wallet": "alice", "to_wallet": "teahouse",
                                     "amount": format_amount(chunk, 2)})
            assert result["status"] == "accepted", result
    before = wallet_of(wallet_node, "alice")
    over = format_amount(left + 1, 2)

    log_in(page, wallet_node.url, "alice")
    expect(page.locator("#remaining-today")).to_have_text(money(left, 2))
    page.fill("#to", "bob")
    page.fill("#amount", over)
    page.click("#send")
    page.wait_for_url("**/wallet?tx=*")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "false")
    expect(page.locator("#outcome-detail")).to_contain_text(
        f"This payment would take the wallet over its daily limit. You can still send "
        f"{money(left, 2)} CNY today.")
    expect(page.locator("#outcome")).to_have_attribute("data-code", "daily_limit")
    after = wallet_of(wallet_node, "alice")
    assert (after.balance_minor, after.entries, after.spent_today_minor) == (
        before.balance_minor, before.entries, before.spent_today_minor)
    expect(page.locator("#balance")).to_have_text(money(before.balance_minor, 2))


def test_a_bad_transfer_form_says_why_and_changes_nothing(wallet_node: WalletNode,
                                                          page: Page) -> None:
    log_in(page, wallet_node.url, "bob")
    before = wallet_of(wallet_node, "bob")
    height = wallet_node.node.chain.head.height
    for to, amount, words in [("alice", "1.234", "more than 2 decimals"),
                              ("nobody-here", "1.00", "There is no wallet nobody-here."),
                              ("dora", "1.00", "Wallet dora holds HKD"),
                              ("bob", "1.00", "You cannot send to your own wallet.")]:
        page.fill("#to", to)
        page.fill("#amount", amount)
        page.click("#send")
        expect(page.locator("#transfer-error")).to_contain_text(words)
        expect(page.locator("#to")).to_have_value(to)
    assert wallet_of(wallet_node, "bob") == before
    assert wallet_node.node.chain.head.height == height


def test_older_history_loads_in_place_and_the_api_honours_the_session(
        wallet_node: WalletNode, page: Page) -> None:
    custody = wallet_node.custody
    config = custody.config
    custody.config = config.model_copy(update={"history_page_entries": 2})
    try:
        log_in(page, wallet_node.url, "alice")
        entries = page.locator("#entries .entry")
        expect(entries).to_have_count(2)
        total = wallet_of(wallet_node, "alice").entries
        while page.locator("#history-more").count():
            shown = entries.count()
            page.click("#history-more a")
            expect(entries).to_have_count(min(shown + 2, total))
        seqs = [int(s) for s in entries.evaluate_all("els => els.map(e => e.dataset.seq)")]
        assert seqs == list(range(total - 1, -1, -1))
    finally:
        custody.config = config
    # The web session signs API reads too: alice sees her own private tx in full.
    tx_id = page.locator("#entries .entry[data-kind='transfer_out'] .receipt-link").first \
        .get_attribute("href")
    assert tx_id is not None
    status = page.request.get(wallet_node.url + "/v1/tx/" + tx_id.rsplit("/", 1)[1]).json()
    assert "redacted" not in status and status["tx"]["tx"]["payload"]
    public = httpx.get(wallet_node.url + "/v1/tx/" + tx_id.rsplit("/", 1)[1]).json()
    assert public["redacted"] is True


def test_bob_cannot_open_alices_wallet(wallet_node: WalletNode, page: Page) -> None:
    log_in(page, wallet_node.url, "bob")
    for path in ("/wallets/alice", "/wallets/alice/statement.csv", "/wallets/no-such"):
        response = page.goto(wallet_node.url + path)
        assert response is not None and response.status == 403, path
        expect(page.locator("h1")).to_have_text("Not yours to see")
        expect(page.locator("#not-found")).to_contain_text("only your own wallet")


def test_the_csv_statement_downloads_with_every_entry(wallet_node: WalletNode,
                                                      page: Page) -> None:
    log_in(page, wallet_node.url, "alice")
    with page.expect_download() as info:
        page.click("#csv")
    download = info.value
    assert download.suggested_filename == "statement-alice.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    node = wallet_node.node
    entries = queries.latest_entries(node.store, node.chain.state, "alice", 1000)[::-1]
    assert [int(r["seq"]) for r in rows] == [e.seq for e in entries]
    assert [r["tx_id"] for r in rows] == [e.tx_id for e in entries]
    assert rows[0]["kind"] == "distribute" and rows[0]["counterparty"] == "reserve:harbor"
    assert rows[-1]["balance"] == format_amount(wallet_of(wallet_node, "alice").balance_minor, 2)
    assert any(r["memo"] == "Dumplings <b>&</b>" for r in rows)


def test_a_merchant_sees_incoming_payments(wallet_node: WalletNode, page: Page) -> None:
    node = wallet_node.node
    teahouse = wallet_of(wallet_node, "teahouse")
    assert teahouse.holder == "merchant"
    newest = queries.latest_entries(node.store, node.chain.state, "teahouse", 1)[0]
    assert newest.kind in ("transfer_in", "payment_in")
    log_in(page, wallet_node.url, "teahouse")
    expect(page.locator("#wallet-title")).to_have_text(teahouse.label)
    expect(page.locator("#balance")).to_have_text(balance_text(wallet_node, "teahouse"))
    first = page.locator("#entries .entry").first
    expect(first.locator(".entry-what")).to_have_text(
        f"{KIND_WORDS[newest.kind]} · {newest.counterparty}")
    expect(first.locator(".amount")).to_have_text("+" + money(newest.amount_minor, 2))
    # Everything a merchant's wallet holds came in: transfers and QR payments.
    expect(page.locator("#entries .entry[data-kind$='_in']")).to_have_count(
        min(teahouse.entries, 20))


# -- bank desk ---------------------------------------------------------------------------------

def test_bank_desk_opens_a_wallet_with_a_login_distributes_and_freezes_it(
        wallet_node: WalletNode, page: Page, browser: Browser) -> None:
    log_in(page, wallet_node.url, "harbor-desk")
    page.wait_for_url("**/desk/bank")
    reserve = queries.reserve(wallet_node.node.chain.state, "CNY", "harbor")
    assert reserve is not None
    expect(page.locator("#reserves dd[data-currency='CNY']")).to_have_text(
        f"{money(reserve.balance_minor, 2)} CNY")

    page.fill("#open-id", "erin")
    page.select_option("#open-tier", "CNY:anonymous")
    page.fill("#open-label", "Erin Chow")
    page.check("#open-generate")
    page.click("#open-button")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")
    expect(page.locator("#new-username")).to_have_text("erin")
    password = page.locator("#new-password").inner_text()
    assert len(password) == 16
    assert wallet_of(wallet_node, "erin").operator == "harbor"

    page.fill("#dist-wallet", "erin")
    page.fill("#dist-amount", "100")
    page.click("#distribute-button")
    page.wait_for_url("**/desk/bank?tx=*")
    expect(page.locator("#outcome")).to_contain_text("Distribute 100 CNY to wallet erin")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")
    expect(page.locator("#wallets tr[data-wallet='erin'] td.num")).to_have_text("100.00 CNY")

    page.fill("#freeze-wallet", "erin")
    page.select_option("#freeze-reason", "court_order")
    page.click("#freeze-button")
    expect(page.locator("#outcome")).to_contain_text("Freeze wallet erin (court order)")
    expect(page.locator("#wallets tr[data-wallet='erin'] .badge-frozen")).to_have_text("frozen")

    # A second browser: Erin logs in with the password she was handed, and cannot pay.
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    erin = context.new_page()
    log_in(erin, wallet_node.url, "erin", password)
    expect(erin.locator("#frozen")).to_contain_text("This wallet is frozen (court order)")
    expect(erin.locator("#balance")).to_have_text("100.00")
    expect(erin.locator("#transfer-form")).to_have_count(0)
    response = erin.request.post(wallet_node.url + "/wallet/transfer", form={
        "csrf": csrf_of(erin), "to": "bob", "amount": "1.00", "memo": ""})
    assert response.ok  # followed to the wallet page with the ledger's answer
    assert "Frozen wallet: a frozen wallet cannot send." in response.text()
    assert wallet_of(wallet_node, "erin").balance_minor == 10000
    context.close()


def test_bank_desk_refuses_a_bad_form_and_another_banks_wallet(wallet_node: WalletNode,
                                                               page: Page) -> None:
    log_in(page, wallet_node.url, "harbor-desk")
    height = wallet_node.node.chain.head.height
    page.fill("#dist-wallet", "chen")
    page.fill("#dist-amount", "5")
    page.click("#distribute-button")
    expect(page.locator("#distribute-error")).to_have_text(
        "Wallet chen is operated by another bank.")
    page.fill("#open-id", "Bad Id!")
    page.click("#open-button")
    expect(page.locator("#open-error")).to_contain_text("A wallet id is 3 to 40")
    page.fill("#open-id", "frank")
    page.fill("#open-key", "abc")
    page.click("#open-button")
    expect(page.locator("#open-error")).to_contain_text("Owner key: public key")
    assert wallet_node.node.chain.head.height == height
    response = page.goto(wallet_node.url + "/wallets/chen")
    assert response is not None and response.status == 403


def test_bank_desk_changes_a_wallets_tier(wallet_node: WalletNode, page: Page) -> None:
    log_in(page, wallet_node.url, "harbor-desk")
    page.fill("#tier-wallet", "bob")
    page.select_option("#tier-tier", "verified")
    page.click("#tier-button")
    expect(page.locator("#outcome")).to_have_attribute("data-accepted", "true")
    assert wallet_of(wallet_node, "bob").tier == "verified"


# -- central-bank desk -------------------------------------------------------------------------

def test_central_bank_issues_to_meridian_and_proposes_tier_limits(wallet_node: WalletNode,
                                                                  page: Page) -> None:
    state = wallet_node.node.chain.state
    supply = queries.supply(state, "CNY")
    reserve = queries.reserve(state, "CNY", "meridian")
    assert supply is not None and reserve is not None
    log_in(page, wallet_node.url, "arcadia-desk")
    page.wait_for_url("**/desk/central-bank")
    card = page.locator("#currency-CNY")
    expect(card.locator("[data-field='issued']")).to_have_text(money(supply.issued_minor, 2))
    expect(page.locator("#currency-HKD")).to_have_count(0)  # issued by the other central bank

    page.select_option("#issue-currency", "CNY")
    page.select_option("#issue-bank", "meridian")
    page.fill("#issue-amount", "2500.50")
    page.click("#issue-button")
    page.wait_for_url("**/desk/central-bank?tx=*")
    expect(page.locator("#outcome")).to_contain_text("Issue 2500.50 CNY to meridian's reserve")
    expect(card.locator("[data-field='issued']")).to_have_text(
        money(supply.issued_minor + 250050, 2))
    expect(card.locator("[data-field='outstanding']")).to_have_text(
        money(supply.issued_minor - supply.redeemed_minor + 250050, 2))
    expect(card.locator("tr[data-bank='meridian'] td.num")).to_have_text(
        money(reserve.balance_minor + 250050, 2))

    page.select_option("#tier-currency", "CNY")
    page.fill("#tier-id", "student")
    page.fill("#tier-name", "Student")
    page.fill("#tier-payment", "500")
    page.fill("#tier-daily", "1000")
    page.fill("#tier-balance", "400")
    page.click("#propose-button")
    expect(page.locator("#tier-error")).to_have_text(
        "The per-payment limit may not be more than the daily or balance limit.")
    page.fill("#tier-balance", "3000")
    page.click("#propose-button")
    page.wait_for_url("**/desk/central-bank?tx=*")
    expect(page.locator("#outcome")).to_contain_text("Propose new limits for CNY tier student")
    page.click("#outcome-link")
    page.wait_for_url("**/governance/proposals/*")
    expect(page.locator("h1")).to_have_text(
        "Set CNY tier student limits: balance 3000, per payment 500, daily 1000")
    expect(page.locator("#proposal-status")).to_have_text("open")


def test_the_regulator_sees_any_wallet_read_only(wallet_node: WalletNode, page: Page) -> None:
    log_in(page, wallet_node.url, "fro-desk")
    page.wait_for_url("**/desk/regulator")
    expect(page.locator("#wallets tr[data-wallet='harbor-books']")).to_have_count(1)
    page.fill("#lookup", "chen")
    page.press("#lookup", "Enter")
    page.wait_for_url("**/wallets/chen")
    expect(page.locator("#view-role")).to_have_text("regulator view · read-only")
    expect(page.locator("#balance")).to_have_text(balance_text(wallet_node, "chen"))
    expect(page.locator("#transfer-form")).to_have_count(0)
    expect(page.locator("#operator-actions")).to_have_count(0)
    # The regulator sees private txs in full.
    entry = queries.latest_entries(wallet_node.node.store, wallet_node.node.chain.state,
                                   "chen", 1)[0]
    page.goto(f"{wallet_node.url}/explorer/tx/{entry.tx_id}")
    expect(page.locator("#tx-payload")).to_contain_text('"chen"')


# -- the public explorer -----------------------------------------------------------------------

def test_the_public_explorer_redacts_a_transfer_but_verifies_its_receipt(
        wallet_node: WalletNode, page: Page) -> None:
    node = wallet_node.node
    entry = queries.latest_entries(node.store, node.chain.state, "teahouse", 1)[0]
    assert entry.kind == "transfer_in"
    page.goto(f"{wallet_node.url}/explorer/tx/{entry.tx_id}")
    expect(page.locator("#private-tx")).to_contain_text("Private transaction")
    expect(page.locator("#tx-kind")).to_have_text("currency.transfer")
    expect(page.locator("#result-status")).to_have_text("accepted")
    expect(page.locator("#tx-payload")).to_have_count(0)
    assert "teahouse" not in page.content() and entry.counterparty not in page.content()
    page.locator("#receipt[data-checked='true']").wait_for()
    expect(page.locator("#verdict")).to_have_text("Receipt verified")

    page.goto(f"{wallet_node.url}/explorer/blocks/{entry.height}")
    row = page.locator("table.txs tbody tr").filter(has_text="currency.transfer").first
    expect(row.locator(".private")).to_have_text("private")


# -- sessions and forms ------------------------------------------------------------------------

def test_an_expired_session_sends_you_to_login(wallet_node: WalletNode, page: Page) -> None:
    custody = wallet_node.custody
    config = custody.config
    custody.config = config.model_copy(update={"session_idle_ttl_s": 1})
    try:
        log_in(page, wallet_node.url, "bob")
        time.sleep(1.2)
        page.goto(wallet_node.url + "/wallet")
        page.wait_for_url("**/login?next=/wallet")
        expect(page.locator("#session-ended")).to_have_text("Your session has ended. Log in again.")
    finally:
        custody.config = config


def test_a_form_without_its_csrf_token_is_refused(wallet_node: WalletNode, page: Page) -> None:
    log_in(page, wallet_node.url, "alice")
    before = wallet_of(wallet_node, "alice")
    forms: list[dict[str, str | float | bool]] = [
        {"to": "bob", "amount": "1.00"},
        {"to": "bob", "amount": "1.00", "csrf": "forged-" + "x" * 36}]
    for form in forms:
        response = page.request.post(wallet_node.url + "/wallet/transfer", form=form)
        assert response.status == 403
        assert "nothing was changed" in response.text()
    response = page.request.post(wallet_node.url + "/wallet/transfer", form={
        "to": "bob", "amount": "1.00", "csrf": csrf_of(page)},
        headers={"Origin": "http://evil.example"})
    assert response.status == 403
    assert wallet_of(wallet_node, "alice") == before


def test_logging_out_ends_the_session(wallet_node: WalletNode, page: Page) -> None:
    log_in(page, wallet_node.url, "chen")
    page.click("#logout")
    page.wait_for_url("**/login")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.goto(wallet_node.url + "/wallet")
    page.wait_for_url("**/login?next=/wallet")


# -- how the pages look ------------------------------------------------------------------------

def test_screenshots_of_wallet_and_desks(wallet_node: WalletNode, browser: Browser) -> None:
    """Phone and desktop screenshots into /tmp/shots, for people to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for username, path, name in (("alice", "/wallet", "wallet"),
                                 ("harbor-desk", "/desk/bank", "bank-desk"),
                                 ("arcadia-desk", "/desk/central-bank", "central-bank-desk"),
                                 ("fro-desk", "/desk/regulator", "regulator-desk")):
        context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
        page = context.new_page()
        log_in(page, wallet_node.url, username)
        page.goto(wallet_node.url + path)
        for size_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)  # type: ignore[arg-type]
            page.screenshot(path=str(SHOTS / f"{name}-{size_name}.png"), full_page=True)
        context.close()
