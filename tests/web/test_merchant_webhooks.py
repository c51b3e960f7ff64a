"""The merchant page's webhooks panel against a real demo node: what the page adds is the API's
webhook (same rules, same refusals in the same words), only the merchant's login reaches it, and
in Chromium the teahouse adds a webhook to a live receiver, a payment arrives there signed so
that the reference verifier accepts it with the key the page shows, and deleting it stops it.

Tests share the module's node and leave the merchant's webhooks as they found them (none).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from consortia.api.request_signing import sign_request
from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import wallet_owner_key
from consortia.modules.payments.webhooks import EVENT_ID_HEADER, verify_webhook
from consortia.sdk.client import Client
from tests.web.conftest import WalletNode, log_in

MERCHANT = "jade-teahouse"
OTHER_MERCHANT = "harbor-books"  # its settlement wallet's login is "harbor-books"
API = f"/v1/payments/merchants/{MERCHANT}/webhooks"
# Receivers nobody listens on: no payment is made while they are registered.
DEAD = "http://127.0.0.1:9/hooks"


# -- helpers -----------------------------------------------------------------------------------

def owner_key(shop: WalletNode, wallet_id: str = "teahouse") -> SigningKey:
    return wallet_owner_key(shop.running.data_dir, wallet_id)


def api(shop: WalletNode, method: str, path: str = API, key: SigningKey | None = None,
        **params: str) -> httpx.Response:
    """The webhooks API, signed by the teahouse's owner key (or ``key``)."""
    signer = key if key is not None else owner_key(shop)
    with httpx.Client(base_url=shop.url) as client:
        request = client.build_request(method, path, params=params)
        query = request.url.query.decode()
        request.headers.update(sign_request(signer, method, request.url.path
                                            + (f"?{query}" if query else "")))
        return client.send(request)


def api_urls(shop: WalletNode, merchant: str = MERCHANT, wallet_id: str = "teahouse",
             ) -> dict[str, str]:
    """The merchant's webhooks as the API lists them: {url: id}."""
    response = api(shop, "GET", f"/v1/payments/merchants/{merchant}/webhooks",
                   owner_key(shop, wallet_id))
    assert response.status_code == 200, response.text
    return {h["url"]: h["id"] for h in response.json()["webhooks"]}


@contextmanager
def logged_in(shop: WalletNode, username: str) -> Iterator[httpx.Client]:
    """An HTTP client with ``username``'s session (the demo password)."""
    with httpx.Client(base_url=shop.url) as client:
        response = client.post("/login", data={"username": username,
                                               "password": f"{username}-demo"})
        assert response.status_code == 303, response.text
        yield client


def csrf_of(client: httpx.Client, path: str = "/merchant") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def error_of(html: str) -> str:
    found = re.search(r'id="webhook-error"[^>]*>([^<]*)<', html)
    assert found, html[:2000]
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&")


@pytest.fixture(autouse=True)
def no_webhooks_left(wallet_node: WalletNode) -> Iterator[None]:
    """Each test starts and ends with no webhooks of either demo merchant."""
    yield
    for merchant, wallet_id in ((MERCHANT, "teahouse"), (OTHER_MERCHANT, "harbor-books")):
        for webhook_id in api_urls(wallet_node, merchant, wallet_id).values():
            api(wallet_node, "DELETE", f"/v1/payments/merchants/{merchant}/webhooks/"
                f"{webhook_id}", owner_key(wallet_node, wallet_id))
        assert api_urls(wallet_node, merchant, wallet_id) == {}


# -- over HTTP ---------------------------------------------------------------------------------

def test_a_webhook_added_on_the_page_is_the_apis_and_deleting_it_there_removes_it(
        wallet_node: WalletNode) -> None:
    url = DEAD + "/added-on-the-page"
    with logged_in(wallet_node, "teahouse") as client:
        response = client.post("/merchant/webhooks", data={"csrf": csrf_of(client), "url": url})
        assert response.status_code == 303
        assert response.headers["location"] == "/merchant?webhook=added#webhooks"
        listed = api(wallet_node, "GET").json()
        (hook,) = listed["webhooks"]
        assert (hook["url"], hook["merchant_id"], hook["created_by"]) == (
            url, MERCHANT, owner_key(wallet_node).public_key_hex)
        page = client.get("/merchant?webhook=added").text
        assert f'data-webhook="{hook["id"]}" data-url="{url}"' in page
        assert "Webhook added" in page and "No deliveries yet." in page
        assert f'id="webhook-node-key">{listed["node_key"]}<' in page

        response = client.post("/merchant/webhooks/delete", data={
            "csrf": csrf_of(client), "webhook_id": hook["id"]})
        assert response.status_code == 303
        assert response.headers["location"] == "/merchant?webhook=deleted#webhooks"
        assert api_urls(wallet_node) == {}
        page = client.get("/merchant").text
        assert hook["id"] not in page and 'id="webhooks-empty"' in page

        # Deleting it again: the page says so, with the API's 404.
        response = client.post("/merchant/webhooks/delete", data={
            "csrf": csrf_of(client), "webhook_id": hook["id"]})
        assert response.status_code == 404
        assert error_of(response.text) == (
            f"Not deleted: {MERCHANT} has no webhook '{hook['id']}' (deleted already?).")
        assert api(wallet_node, "DELETE", f"{API}/{hook['id']}").status_code == 404


@pytest.mark.parametrize(("url", "says"), [
    ("ftp://shop.example/hook", "a webhook URL is https://host/path"),
    ("shop.example/hook", "a webhook URL is https://host/path"),
    ("http://shop.example/hook", "plain http is allowed only to a loopback receiver"),
    ("https://shop:secret@shop.example/hook", "carries no user or password"),
    ("https://shop.example/hook#top", "no #fragment"),
    ("https://shop.example/a hook", "no spaces or control characters"),
    ("https://shop.example/" + "h" * 2_048, "1 to 2048 characters"),
])
def test_a_refused_url_shows_the_apis_sentence_and_adds_nothing(
        wallet_node: WalletNode, url: str, says: str) -> None:
    with logged_in(wallet_node, "teahouse") as client:
        response = client.post("/merchant/webhooks", data={"csrf": csrf_of(client), "url": url})
    assert response.status_code == 400
    from_api = api(wallet_node, "POST", url=url)
    assert from_api.status_code == 400 and from_api.json()["code"] == "bad_webhook_url"
    assert says in from_api.json()["message"]
    assert error_of(response.text) == f"Not added: {from_api.json()['message']}."
    # The form keeps what was typed, to be corrected.
    assert 'id="webhook-url"' in response.text and "webhook-notice" not in response.text
    assert api_urls(wallet_node) == {}


def test_the_per_merchant_limit_and_a_duplicate_are_refused_as_by_the_api(
        wallet_node: WalletNode) -> None:
    limit = wallet_node.node.config.webhooks_per_merchant_max
    urls = [f"{DEAD}/{n}" for n in range(limit)]
    with logged_in(wallet_node, "teahouse") as client:
        csrf = csrf_of(client)
        for url in urls:
            assert client.post("/merchant/webhooks", data={"csrf": csrf, "url": url}
                               ).status_code == 303
        duplicate = client.post("/merchant/webhooks", data={"csrf": csrf, "url": urls[0]})
        assert duplicate.status_code == 409
        assert error_of(duplicate.text) == (
            f"Not added: {MERCHANT} has a webhook to this URL already.")
        over = client.post("/merchant/webhooks", data={"csrf": csrf, "url": DEAD + "/one-more"})
        assert over.status_code == 409
        assert error_of(over.text) == (
            f"Not added: a merchant has at most {limit} webhooks; remove one first.")
        assert f"{limit} of at most {limit} webhooks" in over.text
    from_api = api(wallet_node, "POST", url=DEAD + "/one-more")
    assert from_api.status_code == 409
    assert from_api.json()["code"] == "too_many_webhooks"
    assert sorted(api_urls(wallet_node)) == sorted(urls)


def test_only_the_merchants_own_login_lists_adds_and_deletes(wallet_node: WalletNode) -> None:
    theirs = DEAD + "/teahouse-only"
    added = api(wallet_node, "POST", url=theirs)
    assert added.status_code == 201, added.text
    webhook_id = added.json()["id"]
    before = api_urls(wallet_node)

    # Nobody logged in: to the login page, nothing done.
    with httpx.Client(base_url=wallet_node.url) as anonymous:
        listed = anonymous.get("/merchant/webhooks")
        assert listed.status_code == 303
        assert listed.headers["location"] == "/login?next=/merchant/webhooks"
        for path, form in (("/merchant/webhooks", {"url": DEAD + "/anon"}),
                           ("/merchant/webhooks/delete", {"webhook_id": webhook_id})):
            response = anonymous.post(path, data=form)
            assert (response.status_code, response.headers["location"]) == (303, "/login")

    # A person who settles no merchant: refused.
    with logged_in(wallet_node, "alice") as alice:
        csrf = csrf_of(alice, "/wallet")
        assert alice.get("/merchant/webhooks").status_code == 403
        assert alice.post("/merchant/webhooks", data={
            "csrf": csrf, "url": DEAD + "/alice"}).status_code == 403
        assert alice.post("/merchant/webhooks/delete", data={
            "csrf": csrf, "webhook_id": webhook_id}).status_code == 403

    # Another merchant sees and changes only its own webhooks.
    with logged_in(wallet_node, "harbor-books") as books:
        csrf = csrf_of(books)
        assert theirs not in books.get("/merchant/webhooks").text
        assert theirs not in books.get("/merchant").text
        gone = books.post("/merchant/webhooks/delete", data={"csrf": csrf,
                                                              "webhook_id": webhook_id})
        assert gone.status_code == 404
        assert books.post("/merchant/webhooks", data={
            "csrf": csrf, "url": DEAD + "/books"}).status_code == 303
        assert list(api_urls(wallet_node, OTHER_MERCHANT, "harbor-books")) == [DEAD + "/books"]
        # The session is not the merchant's key for the API, which wants signed requests.
        response = books.get(API)
        assert (response.status_code, response.json()["code"]) == (
            401, "signed_request_required")
        # Nor does the other merchant's key open the teahouse's webhooks there.
        response = api(wallet_node, "GET", key=owner_key(wallet_node, "harbor-books"))
        assert (response.status_code, response.json()["code"]) == (403, "not_allowed")

    # The teahouse's own forms need its session's token, from its own site.
    with logged_in(wallet_node, "teahouse") as client:
        csrf = csrf_of(client)
        for form, headers in (({"url": DEAD + "/forged"}, {}),
                              ({"url": DEAD + "/forged", "csrf": "forged-" + "x" * 36}, {}),
                              ({"url": DEAD + "/forged", "csrf": csrf},
                               {"Origin": "http://evil.example"})):
            assert client.post("/merchant/webhooks", data=form, headers=headers
                               ).status_code == 403
        assert client.post("/merchant/webhooks/delete", data={"webhook_id": webhook_id}
                           ).status_code == 403
    assert api_urls(wallet_node) == before


# -- in Chromium -------------------------------------------------------------------------------

class Receiver:
    """A merchant's webhook receiver on loopback: records each POST and answers 204."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/consortia"

    def wait_for(self, count: int, timeout_s: float = 10) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def pay(shop: WalletNode, amount: str) -> str:
    """alice pays the teahouse's counter code with the SDK; the payment's tx id."""
    with Client(shop.url) as client:
        stx = client.build(owner_key(shop, "alice"), "payments.pay", {
            "merchant_id": MERCHANT, "from_wallet": "alice", "amount": amount})
        status = client.submit(stx, wait_ms=10_000)
    assert status["status"] == "committed" and status["result"]["status"] == "accepted", status
    tx_id: str = status["tx_id"]
    return tx_id


def test_the_teahouse_adds_a_webhook_a_payment_reaches_it_signed_and_it_is_deleted(
        page: Page, wallet_node: WalletNode, receiver: Receiver) -> None:
    log_in(page, wallet_node.url, "teahouse")
    page.goto(wallet_node.url + "/merchant")
    node_key = page.locator("#webhook-node-key").inner_text()
    assert node_key == httpx.get(wallet_node.url + "/v1/chain").json()["node_key"]
    expect(page.locator("#webhooks-empty")).to_be_visible()

    # A URL the API refuses: its sentence, and nothing listed.
    page.fill("#webhook-url", "http://shop.example/hooks")
    page.click("#add-webhook")
    expect(page.locator("#webhook-error")).to_have_text(
        "Not added: plain http is allowed only to a loopback receiver (127.0.0.1, ::1, "
        "localhost); use https.")
    expect(page.locator("#webhook-url")).to_have_value("http://shop.example/hooks")
    expect(page.locator("#webhooks-empty")).to_be_visible()

    page.fill("#webhook-url", receiver.url)
    page.click("#add-webhook")
    expect(page.locator("#webhook-notice")).to_contain_text("Webhook added")
    row = page.locator(f".webhook[data-url='{receiver.url}']")
    expect(row.locator(".webhook-last")).to_have_attribute("data-status", "none")
    assert list(api_urls(wallet_node)) == [receiver.url]

    # A payment: the receiver gets it signed by the key the page shows.
    payment_id = pay(wallet_node, "2.20")
    ((headers, body),) = receiver.wait_for(1)
    event = verify_webhook(body, headers, node_key)
    assert (event["id"], event["type"], event["merchant_id"], event["amount"],
            event["payer_wallet"]) == (f"{payment_id}:payment", "payment", MERCHANT, "2.20",
                                       "alice")
    assert headers[EVENT_ID_HEADER] == event["id"]
    # The page shows the payment and then the delivery, by itself.
    expect(page.locator(f"#payment-list tr[data-payment='{payment_id}']")).to_be_visible()
    expect(row.locator(".webhook-last")).to_have_attribute("data-status", "delivered",
                                                           timeout=8_000)
    expect(row.locator(".webhook-status")).to_have_text("delivered")

    # Deleted after a confirmation: gone from the page and the API, and sent nothing more.
    row.locator("summary").click()
    row.locator(".confirm-delete").click()
    expect(page.locator("#webhook-notice")).to_contain_text("Webhook deleted")
    expect(page.locator(".webhook")).to_have_count(0)
    expect(page.locator("#webhooks-empty")).to_be_visible()
    assert api_urls(wallet_node) == {}
    after = pay(wallet_node, "1.10")
    expect(page.locator(f"#payment-list tr[data-payment='{after}']")).to_be_visible()
    time.sleep(0.5)  # the event is stored before the page hears of it; no delivery follows
    assert len(receiver.requests) == 1
