"""Merchant notifications over real HTTP: the merchant page's event stream (live within a
second, resumable with Last-Event-ID, for the books readers only) and signed webhooks delivered
to a real receiver on loopback (verified with the node key, retried with backoff, resumed after
a restart)."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from consortia.api.auth import sign_request
from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import member_key, run_demo, wallet_owner_key
from consortia.modules.payments.webhooks import (
    EVENT_ID_HEADER,
    STORE_FILE,
    WebhookVerifyError,
    verify_webhook,
)
from consortia.sdk.client import Client
from tests.api.support import assert_error, free_url, loopback, serving
from tests.conftest import free_port

MERCHANT = "jade-teahouse"
EVENTS = f"/v1/payments/merchants/{MERCHANT}/events"
WEBHOOKS = f"/v1/payments/merchants/{MERCHANT}/webhooks"
# Fast retries, so a receiver failing twice is served in well under a second.
FAST = {"webhook_backoff_base_ms": 50, "webhook_backoff_max_ms": 200,
        "webhook_attempts_max": 4, "webhook_timeout_s": 2.0, "webhooks_per_merchant_max": 2}
# Generous for a loaded 2-core machine; the typical figure is printed (pytest -s).
LATENCY_S_MAX = 3.0


@dataclass
class Shop:
    url: str
    keys: dict[str, SigningKey]
    node_key: str
    data_dir: Path


def onboard(client: Client, keys: dict[str, SigningKey]) -> None:
    """The teahouse as merchant jade-teahouse (the demo may have onboarded it already)."""
    if client.http.get(f"/v1/payments/merchants/{MERCHANT}").status_code == 200:
        return
    result, _ = client.send(keys["lotus"], "payments.onboard_merchant", {
        "merchant_id": MERCHANT, "name": "Jade Teahouse", "city": "Lantau", "country": "HK",
        "mcc": "5814", "wallet_id": "teahouse"})
    assert result["status"] == "accepted", result


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    data_dir = tmp_path_factory.mktemp("notify-api") / "node"
    with serving(data_dir, **FAST) as running, running.client() as client:
        run_demo(client, data_dir)
        keys = demo_keys(data_dir)
        onboard(client, keys)
        yield Shop(running.url, keys, client.info()["node_key"], data_dir)


def demo_keys(data_dir: Path) -> dict[str, SigningKey]:
    keys = {m: member_key(data_dir, m) for m in ("lotus", "meridian", "harbor", "fro")}
    keys.update({w: wallet_owner_key(data_dir, w) for w in ("teahouse", "alice", "bob")})
    return keys


@pytest.fixture
def http(shop: Shop) -> Iterator[httpx.Client]:
    with loopback(shop.url) as client:
        yield client


def signed(http: httpx.Client, key: SigningKey | None, method: str, path: str,
           params: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
    """A request signed by ``key`` over the method, path and query exactly as sent."""
    request = http.build_request(method, path, params=params, headers=headers)
    if key is not None:
        query = request.url.query.decode()
        request.headers.update(sign_request(key, method, request.url.path
                                            + (f"?{query}" if query else "")))
    return http.send(request)


def pay(url: str, key: SigningKey, amount: str = "18.80", wallet: str = "alice") -> str:
    """alice pays the teahouse (static code); the payment id once it is committed."""
    with Client(url) as client:
        stx = client.build(key, "payments.pay", {"merchant_id": MERCHANT,
                                                 "from_wallet": wallet, "amount": amount})
        status = client.submit(stx, wait_ms=10_000)
    assert status["status"] == "committed" and status["result"]["status"] == "accepted", status
    tx_id: str = status["tx_id"]
    return tx_id


def refund(url: str, key: SigningKey, payment_id: str, amount: str) -> str:
    with Client(url) as client:
        result, receipt = client.send(key, "payments.refund", {
            "payment_id": payment_id, "amount": amount, "reason": "no sugar"})
    assert result["status"] == "accepted", result
    tx_id: str = receipt["tx_id"]
    return tx_id


# -- the event stream ----------------------------------------------------------------------

@dataclass
class Received:
    ident: int | None
    type: str
    data: dict[str, Any]
    at: float  # time.time() when it arrived


@dataclass
class Stream:
    """A merchant event stream read in a thread, as a merchant page would."""

    url: str
    key: SigningKey
    last_event_id: int | None = None
    events: list[Received] = field(default_factory=list)
    first_id: int | None = None
    connected: threading.Event = field(default_factory=threading.Event)
    sock: socket.socket | None = None

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.connected.wait(10), "the stream did not open"

    def _read(self) -> None:
        headers = sign_request(self.key, "GET", EVENTS)
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        with httpx.Client(base_url=self.url, timeout=20) as c:
            try:
                with c.stream("GET", EVENTS, headers=headers) as response:
                    assert response.status_code == 200, response.read()
                    self.sock = response.extensions["network_stream"].get_extra_info(
                        "socket")
                    kind = ident = data = None
                    for line in response.iter_lines():
                        if line.startswith("id: "):
                            ident = int(line[4:])
                        elif line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: "):
                            data = json.loads(line[6:])
                        elif line == "":
                            if data is not None and kind is not None:
                                self.events.append(Received(ident, kind, data, time.time()))
                            elif ident is not None and self.first_id is None:
                                self.first_id = ident
                                self.connected.set()
                            kind = ident = data = None
            except httpx.HTTPError:
                pass  # closed by close(), or the node went away
            finally:
                self.connected.set()

    def wait_for(self, count: int, timeout_s: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return list(self.events)

    def close(self) -> None:
        """Hang up, as a page closed in the browser (wakes the reader blocked in recv)."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)


@pytest.fixture
def stream(shop: Shop) -> Iterator[Stream]:
    s = Stream(shop.url, shop.keys["teahouse"])
    yield s
    s.close()


def test_a_payment_reaches_the_merchant_page_within_a_second(shop: Shop,
                                                             stream: Stream) -> None:
    submit_to_event: list[float] = []
    block_to_event: list[float] = []
    for n in range(5):
        started = time.time()
        payment_id = pay(shop.url, shop.keys["alice"], f"1.0{n}")
        (got,) = stream.wait_for(n + 1)[n:]
        assert (got.type, got.data["id"], got.data["payment_id"], got.data["amount"]) == (
            "payment", f"{payment_id}:payment", payment_id, f"1.0{n}")
        assert got.data == {**got.data, "merchant_id": MERCHANT, "payer_wallet": "alice",
                            "currency": "CNY", "via": "mpm", "order_id": None,
                            "tx_id": payment_id}
        assert got.ident == got.data["height"]
        submit_to_event.append(got.at - started)
        block_to_event.append(got.at - got.data["time_ms"] / 1000)
    print(f"\nsubmit→SSE s: median {statistics.median(submit_to_event):.4f} "
          f"max {max(submit_to_event):.4f}; block time→SSE s: median "
          f"{statistics.median(block_to_event):.4f} max {max(block_to_event):.4f}")
    assert max(submit_to_event) < LATENCY_S_MAX


def test_a_page_resumes_with_last_event_id_without_gaps_or_repeats(shop: Shop) -> None:
    first = Stream(shop.url, shop.keys["teahouse"])
    resume_from = first.first_id
    first.close()
    assert resume_from is not None
    missed = pay(shop.url, shop.keys["alice"], "2.00")
    refunded = refund(shop.url, shop.keys["teahouse"], missed, "0.50")
    again = Stream(shop.url, shop.keys["teahouse"], last_event_id=resume_from)
    try:
        replayed = again.wait_for(2)
        live = pay(shop.url, shop.keys["alice"], "2.01")
        got = again.wait_for(3)
        time.sleep(0.2)  # nothing else may follow
        assert [(e.type, e.data["tx_id"]) for e in again.events] == [
            ("payment", missed), ("refund", refunded), ("payment", live)]
        assert replayed[1].data == {**replayed[1].data, "payment_id": missed,
                                    "amount": "0.50", "reason": "no sugar"}
        assert [e.ident for e in got] == [e.data["height"] for e in got]
    finally:
        again.close()
    # Resuming from the payment's block replays only what followed it.
    later = Stream(shop.url, shop.keys["teahouse"], last_event_id=got[0].ident)
    try:
        assert [e.data["tx_id"] for e in later.wait_for(2)] == [refunded, live]
    finally:
        later.close()


@pytest.mark.parametrize("reader", ["teahouse", "meridian", "lotus", "fro"])
def test_the_books_readers_may_open_the_stream(http: httpx.Client, shop: Shop,
                                               reader: str) -> None:
    headers = sign_request(shop.keys[reader], "GET", EVENTS)
    with http.stream("GET", EVENTS, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert next(response.iter_lines()) == ": connected"


@pytest.mark.parametrize(("reader", "status", "code"), [
    (None, 401, "auth_required"), ("bob", 403, "not_allowed"), ("harbor", 403, "not_allowed"),
    ("alice", 403, "not_allowed")])
def test_the_stream_is_closed_to_others(http: httpx.Client, shop: Shop, reader: str | None,
                                        status: int, code: str) -> None:
    key = None if reader is None else shop.keys[reader]
    assert_error(signed(http, key, "GET", EVENTS), status, code)


def test_unknown_merchants_and_bad_last_event_ids_are_refused(http: httpx.Client,
                                                              shop: Shop) -> None:
    key = shop.keys["teahouse"]
    assert_error(signed(http, key, "GET", "/v1/payments/merchants/nobody-here/events"), 404,
                 "unknown_merchant")
    for bad in ("x", "-1", "9" * 30, "99999999"):
        assert_error(signed(http, key, "GET", EVENTS, **{"Last-Event-ID": bad}), 400,
                     "bad_last_event_id")


# -- webhooks ------------------------------------------------------------------------------

class Receiver:
    """A merchant's webhook receiver on loopback: records every request, fails the first
    ``fail_first`` with HTTP 500, and deduplicates what it accepts by event id."""

    def __init__(self, fail_first: int = 0, port: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        self.accepted: dict[str, bytes] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.requests.append((time.monotonic(), dict(self.headers.items()),
                                              body))
                    fail = len(receiver.requests) <= receiver.fail_first
                    if not fail:
                        receiver.accepted.setdefault(self.headers[EVENT_ID_HEADER], body)
                self.send_response(500 if fail else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/consortia"

    def wait_for(self, count: int, timeout_s: float = 10) -> list[tuple[float, dict[str, str],
                                                                         bytes]]:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Hooked:
    receiver: Receiver
    webhook_id: str


def add_webhook(http: httpx.Client, key: SigningKey, url: str) -> httpx.Response:
    return signed(http, key, "POST", WEBHOOKS, {"url": url})


@pytest.fixture
def hooked(request: pytest.FixtureRequest, http: httpx.Client, shop: Shop) -> Iterator[Hooked]:
    """A receiver with a webhook of the teahouse to it, removed after the test."""
    receiver = Receiver(fail_first=getattr(request, "param", 0))
    response = add_webhook(http, shop.keys["teahouse"], receiver.url)
    assert response.status_code == 201, response.text
    yield Hooked(receiver, response.json()["id"])
    signed(http, shop.keys["teahouse"], "DELETE", f"{WEBHOOKS}/{response.json()['id']}")
    receiver.close()


def deliveries(http: httpx.Client, shop: Shop, webhook_id: str) -> list[dict[str, Any]]:
    response = signed(http, shop.keys["teahouse"], "GET", f"{WEBHOOKS}/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["deliveries"]
    return listed


def wait_delivery(http: httpx.Client, shop: Shop, webhook_id: str,
                  status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = deliveries(http, shop, webhook_id)
        if listed and listed[0]["status"] == status:
            return listed[0]
        time.sleep(0.02)
    raise AssertionError(f"no {status} delivery: {deliveries(http, shop, webhook_id)}")


def test_a_webhook_delivery_verifies_with_the_node_key(http: httpx.Client, shop: Shop,
                                                       hooked: Hooked) -> None:
    payment_id = pay(shop.url, shop.keys["alice"], "3.30")
    ((_, headers, body),) = hooked.receiver.wait_for(1)
    node_key = http.get("/v1/chain").json()["node_key"]
    event = verify_webhook(body, headers, node_key)
    assert (event["id"], event["type"], event["amount"], event["payer_wallet"]) == (
        f"{payment_id}:payment", "payment", "3.30", "alice")
    assert {k.lower(): v for k, v in headers.items()}["content-type"] == "application/json"
    delivered = wait_delivery(http, shop, hooked.webhook_id, "delivered")
    assert (delivered["event_id"], delivered["attempts"], delivered["last_status"]) == (
        event["id"], 1, 204)


@pytest.mark.parametrize("hooked", [2], indirect=True)
def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
        http: httpx.Client, shop: Shop, hooked: Hooked) -> None:
    payment_id = pay(shop.url, shop.keys["alice"], "4.40")
    attempts = hooked.receiver.wait_for(3)
    assert len(attempts) == 3
    for _, headers, body in attempts:
        assert verify_webhook(body, headers, shop.node_key)["id"] == f"{payment_id}:payment"
    assert len({body for *_, body in attempts}) == 1  # the same event, byte for byte
    assert list(hooked.receiver.accepted) == [f"{payment_id}:payment"]
    # Backoff: 25–50 ms after the first failure, 50–100 ms after the second.
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.045, gaps
    delivered = wait_delivery(http, shop, hooked.webhook_id, "delivered")
    assert (delivered["attempts"], delivered["last_status"], delivered["last_error"]) == (
        3, 204, "")
    time.sleep(0.3)
    assert len(hooked.receiver.requests) == 3  # nothing after the success


def test_a_stale_or_tampered_delivery_fails_verification(shop: Shop, hooked: Hooked) -> None:
    pay(shop.url, shop.keys["alice"], "5.50")
    ((_, headers, body),) = hooked.receiver.wait_for(1)
    signed_ms = int(headers["X-Consortia-Timestamp"])
    with pytest.raises(WebhookVerifyError, match="bad signature"):
        verify_webhook(body.replace(b'"5.50"', b'"55.00"'), headers, shop.node_key)
    with pytest.raises(WebhookVerifyError, match="bad signature"):
        verify_webhook(body, headers, shop.keys["lotus"].public_key_hex)
    with pytest.raises(WebhookVerifyError, match="stale timestamp"):
        verify_webhook(body, headers, shop.node_key, 300, time_ms=signed_ms + 301_000)


def test_a_dead_receiver_is_given_up_after_the_attempts_allowed(http: httpx.Client,
                                                                shop: Shop) -> None:
    response = add_webhook(http, shop.keys["teahouse"], free_url() + "/hook")
    assert response.status_code == 201, response.text
    webhook_id = response.json()["id"]
    try:
        pay(shop.url, shop.keys["alice"], "6.60")
        failed = wait_delivery(http, shop, webhook_id, "failed")
        assert failed["attempts"] == FAST["webhook_attempts_max"]
        assert failed["last_status"] is None and "Connect" in failed["last_error"]
    finally:
        signed(http, shop.keys["teahouse"], "DELETE", f"{WEBHOOKS}/{webhook_id}")


@pytest.mark.parametrize(("url", "why"), [
    ("http://shop.example/hook", "loopback"),
    ("ftp://shop.example/hook", "https://"),
    ("https://user:secret@shop.example/hook", "password"),
    ("not a url", "spaces"),
])
def test_bad_webhook_urls_are_refused(http: httpx.Client, shop: Shop, url: str,
                                      why: str) -> None:
    body = assert_error(add_webhook(http, shop.keys["teahouse"], url), 400, "bad_webhook_url")
    assert why in body["message"]


def test_only_the_merchant_manages_its_webhooks_within_the_limit(http: httpx.Client,
                                                                 shop: Shop) -> None:
    owner = shop.keys["teahouse"]
    for key, status, code in ((None, 401, "auth_required"), (shop.keys["bob"], 403,
                                                             "not_allowed"),
                              (shop.keys["meridian"], 403, "not_allowed")):
        assert_error(add_webhook(http, key, "https://a.example/h"), status, code)
        assert_error(signed(http, key, "GET", WEBHOOKS), status, code)
    assert_error(signed(http, owner, "GET", "/v1/payments/merchants/nobody-here/webhooks"),
                 404, "unknown_merchant")
    made = [add_webhook(http, owner, f"https://{host}.example/h") for host in ("a", "b")]
    assert [r.status_code for r in made] == [201, 201]
    assert made[0].json()["node_key"] == shop.node_key
    try:
        assert_error(add_webhook(http, owner, "https://a.example/h"), 409, "webhook_exists")
        assert_error(add_webhook(http, owner, "https://c.example/h"), 409, "too_many_webhooks")
        listed = signed(http, owner, "GET", WEBHOOKS).json()
        assert [h["url"] for h in listed["webhooks"]] == ["https://a.example/h",
                                                          "https://b.example/h"]
        first = f"{WEBHOOKS}/{made[0].json()['id']}"
        assert_error(signed(http, shop.keys["bob"], "DELETE", first), 403, "not_allowed")
        assert_error(signed(http, owner, "DELETE", f"{WEBHOOKS}/wh_nope"), 404,
                     "unknown_webhook")
    finally:
        for r in made:
            deleted = signed(http, owner, "DELETE", f"{WEBHOOKS}/{r.json()['id']}")
            assert deleted.json() == {"deleted": r.json()["id"]}
    assert signed(http, owner, "GET", WEBHOOKS).json()["webhooks"] == []


# -- restart -------------------------------------------------------------------------------

def test_deliveries_resume_after_a_restart_and_missed_blocks_are_caught_up(
        tmp_path: Path) -> None:
    """A delivery still failing when the node stops is sent after it restarts; a block whose
    events were never stored (the node killed in between) is caught up from the ledger."""
    data_dir = tmp_path / "node"
    port = free_port()
    hook_url = f"http://127.0.0.1:{port}/hooks/consortia"
    slow = {**FAST, "webhook_backoff_base_ms": 1_000, "webhook_attempts_max": 10}
    with serving(data_dir, **slow) as running, running.client() as client:
        run_demo(client, data_dir)
        keys = demo_keys(data_dir)
        onboard(client, keys)
        with loopback(running.url) as http:
            assert add_webhook(http, keys["teahouse"], hook_url).status_code == 201
        pending = pay(running.url, keys["alice"], "7.70")
        lost = pay(running.url, keys["alice"], "8.80")
        lost_height = client.tx(lost)["height"]
        deadline = time.monotonic() + 10
        store = data_dir / STORE_FILE
        while time.monotonic() < deadline:  # the first attempts failed: nothing listens
            with sqlite3.connect(store) as conn:
                tried = conn.execute("SELECT MIN(attempts) FROM deliveries").fetchone()[0]
            if tried:
                break
            time.sleep(0.02)
        assert tried
    # As if the node had been killed after committing the second payment's block but before
    # storing its events.
    with sqlite3.connect(store) as conn:
        conn.execute("DELETE FROM deliveries WHERE event_seq IN "
                     "(SELECT seq FROM events WHERE height >= ?)", (lost_height,))
        conn.execute("DELETE FROM events WHERE height >= ?", (lost_height,))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'cursor'", (lost_height - 1,))
    receiver = Receiver(port=port)
    try:
        with serving(data_dir, **slow) as running:
            got = receiver.wait_for(2, timeout_s=15)
            node_key = running.node.key.public_key_hex
            assert sorted(verify_webhook(body, headers, node_key)["tx_id"]
                          for _, headers, body in got) == sorted([pending, lost])
    finally:
        receiver.close()
