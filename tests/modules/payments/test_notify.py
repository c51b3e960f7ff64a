"""Merchant events from committed payments, the notification store, webhook URLs, signatures
and backoff, without a node: a real chain and a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import Envelope
from consortia.modules.payments.notify import (
    MerchantEvent,
    TxItem,
    events_of_block,
    sse_blocks,
    sse_text,
    stored,
)
from consortia.modules.payments.webhooks import (
    DELIVERED,
    FAILED,
    PENDING,
    NotificationStore,
    StoredEvent,
    WebhookRefused,
    WebhookVerifyError,
    backoff_ms,
    check_webhook_url,
    sign_webhook,
    verify_webhook,
)
from tests.modules.payments.test_payments import Shop, charge, code

NODE_KEY = SigningKey(bytes(range(32)))
T0 = 1_700_000_000_000


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path / "chain.db")


def block(shop: Shop, *txs: tuple[str, str, dict[str, Any]]) -> list[TxItem]:
    """Run ``(signer, kind, payload)`` txs as one block: its items as the notifier sees them."""
    stxs = [shop.ledger.tx(signer, kind, payload) for signer, kind, payload in txs]
    results = shop.ledger.run_txs(stxs)
    return [(Envelope(s).tx_id, s.tx.kind, s.tx.payload, r) for s, r in zip(stxs, results,
                                                                             strict=True)]


def pay(order_id: str = "", amount: str = "12.30") -> tuple[str, str, dict[str, Any]]:
    return ("bob", "payments.pay", {"merchant_id": "shop", "from_wallet": "bob-cny",
                                    "amount": amount, "order_id": order_id})


# -- events of a block ---------------------------------------------------------------------

def test_a_block_of_payments_becomes_merchant_events_in_block_order(shop: Shop) -> None:
    shop.order("A-1", "12.30")
    items = block(shop, pay("A-1"), pay(amount="1.5"), pay("A-1"))  # the last: paid already
    assert [r.accepted for *_, r in items] == [True, True, False]
    events = events_of_block(shop.ledger.chain.state, items)
    first, second = (items[0][0].hex(), items[1][0].hex())
    assert [(e.id, e.type, e.payment_id, e.order_id, e.amount, e.amount_minor) for e in events
            ] == [(f"{first}:payment", "payment", first, "A-1", "12.30", 1230),
                  (f"{second}:payment", "payment", second, None, "1.50", 150)]
    assert all((e.merchant_id, e.currency, e.payer_wallet, e.via, e.tx_id) ==
               ("shop", "CNY", "bob-cny", "mpm", e.payment_id) for e in events)
    height, time_ms = items[0][3].height, items[0][3].time_ms
    assert all((e.height, e.time_ms) == (height, time_ms) for e in events)


def test_refunds_and_orders_are_events_too(shop: Shop) -> None:
    payment = block(shop, pay())[0]
    refund_items = block(shop, ("shop", "payments.refund", {
        "payment_id": payment[0].hex(), "amount": "2", "reason": "cold tea"}))
    orders = block(shop, ("shop", "payments.create_order",
                          {"merchant_id": "shop", "order_id": "B-7", "amount": "3.00"}))
    cancels = block(shop, ("shop", "payments.cancel_order",
                           {"merchant_id": "shop", "order_id": "B-7"}))
    state = shop.ledger.chain.state
    (refund,) = events_of_block(state, refund_items)
    assert (refund.type, refund.payment_id, refund.amount, refund.reason, refund.payer_wallet,
            refund.tx_id) == ("refund", payment[0].hex(), "2.00", "cold tea", "bob-cny",
                              refund_items[0][0].hex())
    (created,) = events_of_block(state, orders)
    (cancelled,) = events_of_block(state, cancels)
    assert [(e.type, e.order_id, e.amount, e.payment_id, e.payer_wallet)
            for e in (created, cancelled)] == [("order_created", "B-7", "3.00", None, None),
                                               ("order_cancelled", "B-7", "3.00", None, None)]


def test_a_terminal_charge_is_a_cpm_payment(shop: Shop) -> None:
    result = charge(shop, code(shop))
    assert result.accepted, result
    tx_id = bytes.fromhex(result.data["payment"])
    (event,) = events_of_block(shop.ledger.chain.state,
                               [(tx_id, "payments.charge_cpm", {}, result)])
    assert (event.type, event.via, event.amount, event.payer_wallet) == (
        "payment", "cpm", "4.50", "bob-cny")


def test_events_read_later_are_the_same_events(shop: Shop) -> None:
    """The notifier may read state blocks after the event's own (catching up after a
    restart): what it reads is never changed by later txs."""
    items = block(shop, pay())
    before = events_of_block(shop.ledger.chain.state, items)
    block(shop, ("shop", "payments.refund", {"payment_id": items[0][0].hex(),
                                             "amount": "12.30"}))
    assert events_of_block(shop.ledger.chain.state, items) == before


def test_other_txs_make_no_events(shop: Shop) -> None:
    items = block(shop, ("bob", "currency.transfer", {
        "from_wallet": "bob-cny", "to_wallet": "shop-cny", "amount": "1.00"}))
    assert events_of_block(shop.ledger.chain.state, items) == []


# -- server-sent event text ----------------------------------------------------------------

def event(n: int, height: int, merchant_id: str = "shop") -> StoredEvent:
    return stored(MerchantEvent(f"{n:064x}:payment", "payment", merchant_id, height,
                                T0 + height, f"{n:064x}", f"{n:064x}", None, "1.00", 100,
                                "CNY", "bob-cny", "mpm", None))


def test_only_the_last_event_of_a_block_carries_its_height_as_id() -> None:
    text = sse_text([event(1, 7), event(2, 7)])
    messages = text.split("\n\n")[:-1]
    assert len(messages) == 2 and text.endswith("\n\n")
    assert "id:" not in messages[0] and messages[1].endswith("\nid: 7")
    assert json.loads(messages[0].split("data: ")[1])["id"] == f"{1:064x}:payment"
    assert [h for h, _ in sse_blocks([event(1, 7), event(2, 7), event(3, 9)])] == [7, 9]


# -- the notification store ----------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path) -> NotificationStore:
    return NotificationStore(tmp_path / "notifications.sqlite")


def test_events_are_stored_once_and_replayed_by_merchant_after_a_height(
        store: NotificationStore) -> None:
    assert store.cursor() is None
    store.record_block(5, [event(1, 5), event(2, 5, "other")], 10, T0)
    store.record_block(6, [event(3, 6)], 10, T0)
    store.record_block(6, [event(3, 6)], 10, T0)  # a block seen twice stores nothing new
    assert store.cursor() == 6
    assert [(e.id, e.height) for e in store.events_after("shop", 0, 10)] == [
        (event(1, 5).id, 5), (event(3, 6).id, 6)]
    assert [e.height for e in store.events_after("shop", 5, 10)] == [6]
    assert [e.height for e in store.events_after("shop", 0, 1)] == [5]
    assert [e.merchant_id for e in store.events_after("other", 0, 10)] == ["other"]


def test_deliveries_go_to_the_merchant_webhooks_within_the_queue_bound(
        store: NotificationStore) -> None:
    hook = store.add_webhook("shop", "https://shop.example/hook", "k", 5, T0)
    store.add_webhook("other", "https://other.example/hook", "k", 5, T0)
    assert store.record_block(1, [event(1, 1), event(2, 1)], 3, T0) == 2
    # The queue holds 3: one more is taken, the next recorded as failed at once.
    assert store.record_block(2, [event(3, 2), event(4, 2)], 3, T0) == 1
    listed = store.deliveries(hook.id, None, 10)
    assert [d["status"] for d in listed] == [FAILED, PENDING, PENDING, PENDING]
    assert "pending" in listed[0]["last_error"]
    due = store.due(T0, 10, set())
    assert [d.event_id for d in due] == [event(n, 1 if n < 3 else 2).id for n in (1, 2, 3)]
    assert store.due(T0, 10, {due[0].id}) == due[1:]
    store.finish_attempt(due[0].id, DELIVERED, 1, T0, 200, "", T0)
    assert store.next_due_ms() == T0
    assert store.remove_webhook("shop", hook.id)
    assert store.due(T0, 10, set()) == [] and store.next_due_ms() is None
    assert not store.remove_webhook("shop", hook.id)


def test_webhooks_are_bounded_per_merchant_and_unique_by_url(store: NotificationStore) -> None:
    store.add_webhook("shop", "https://a.example/", "k", 2, T0)
    with pytest.raises(WebhookRefused) as exists:
        store.add_webhook("shop", "https://a.example/", "k", 2, T0)
    store.add_webhook("shop", "https://b.example/", "k", 2, T0)
    with pytest.raises(WebhookRefused) as full:
        store.add_webhook("shop", "https://c.example/", "k", 2, T0)
    assert (exists.value.code, full.value.code) == ("webhook_exists", "too_many_webhooks")
    assert [h.url for h in store.webhooks("shop")] == ["https://a.example/",
                                                       "https://b.example/"]


def test_pruning_keeps_what_a_pending_delivery_needs(store: NotificationStore,
                                                     tmp_path: Path) -> None:
    store.add_webhook("shop", "https://a.example/", "k", 5, T0)
    store.record_block(1, [event(1, 1)], 10, T0)
    store.record_block(2, [event(2, 2, "other")], 10, T0)
    store.prune(T0 + 10, T0 + 10)  # both are older; the shop's is still to be delivered
    assert store.events_after("shop", 0, 10) != []
    assert store.events_after("other", 0, 10) == []
    assert store.pruned_height() == 2
    store.close()
    with sqlite3.connect(tmp_path / "notifications.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (1,)


# -- URLs, signatures, backoff -------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://shop.example/hooks/consortia", "https://10.0.0.7:8443/h?x=1",
    "http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]:8080/",
])
def test_good_webhook_urls(url: str) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize(("url", "why"), [
    ("http://shop.example/hook", "loopback"),
    ("http://10.0.0.7/hook", "loopback"),
    ("ftp://shop.example/hook", "https://"),
    ("https://user:pw@shop.example/", "password"),
    ("https://shop.example/#top", "fragment"),
    ("https:///nohost", "https://"),
    ("https://shop.example:99999/", "not a URL"),
    ("https://shop.example/a b", "spaces"),
    ("shop.example/hook", "https://"),
    ("", "1 to"),
    ("https://shop.example/" + "x" * 2_100, "1 to"),
])
def test_bad_webhook_urls_are_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(WebhookRefused) as refused:
        check_webhook_url(url)
    assert refused.value.code == "bad_webhook_url" and why in refused.value.message


def signed_delivery(time_ms: int = T0) -> tuple[bytes, dict[str, str]]:
    e = event(1, 3)
    return e.body, sign_webhook(NODE_KEY, e.body, e.id, time_ms)


def test_a_signed_delivery_verifies_with_the_node_key() -> None:
    body, headers = signed_delivery()
    lower = {k.lower(): v for k, v in headers.items()}
    got = verify_webhook(body, lower, NODE_KEY.public_key_hex, time_ms=T0 + 1_000)
    assert got == msgspec.json.decode(body) and got["id"] == event(1, 3).id
    assert verify_webhook(body, headers, NODE_KEY.public_key, time_ms=T0) == got


@pytest.mark.parametrize(("change", "message"), [
    ("body", "bad signature"),
    ("key", "bad signature"),
    ("timestamp", "bad signature"),
    ("stale", "stale timestamp"),
    ("event_id", "does not match"),
    ("missing", "missing X-Consortia-Signature"),
    ("hex", "bad signature: not hex"),
])
def test_a_tampered_or_stale_delivery_fails_verification(change: str, message: str) -> None:
    body, headers = signed_delivery()
    key, now = NODE_KEY.public_key_hex, T0
    if change == "body":
        body = body.replace(b'"1.00"', b'"9.00"')
    elif change == "key":
        key = SigningKey(bytes(32)).public_key_hex
    elif change == "timestamp":
        headers["X-Consortia-Timestamp"] = str(T0 + 1)
    elif change == "stale":
        now = T0 + 301_000
    elif change == "event_id":
        headers["X-Consortia-Event-Id"] = event(2, 3).id
    elif change == "missing":
        del headers["X-Consortia-Signature"]
    else:
        headers["X-Consortia-Signature"] = "zz"
    with pytest.raises(WebhookVerifyError, match=message):
        verify_webhook(body, headers, key, 300, time_ms=now)


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    assert [backoff_ms(n, 1_000, 10_000, lambda: 0.0) for n in range(1, 7)] == [
        500, 1_000, 2_000, 4_000, 5_000, 5_000]
    assert [backoff_ms(n, 1_000, 10_000, lambda: 0.999_999) for n in range(1, 7)] == [
        999, 1_999, 3_999, 7_999, 9_999, 9_999]
    assert backoff_ms(10_000, 1_000, 600_000, lambda: 0.5) == 450_000
