"""The signed registry feed over HTTP, on a certificate issued by real signed txs."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import verify_receipt
from consortia.modules.certification.feed import (
    FEED_DOMAIN,
    NEXT_UPDATE_MS,
    FeedError,
    feed_message,
    verify_feed,
)
from tests.api.certification.support import Registry, send_ok, step

PATH = "/v1/certification/feed"


def fetch(http: httpx.Client) -> dict[str, Any]:
    response = http.get(PATH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def node_key(http: httpx.Client) -> bytes:
    return bytes.fromhex(http.get("/v1/chain").json()["node_key"])


def entry_of(body: dict[str, Any], number: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in body["feed"]["entries"] if e["number"] == number)
    return found


def history_total(http: httpx.Client, body: dict[str, Any]) -> int:
    return sum(len(http.get(f"/v1/certification/certificates/{e['id']}").json()["history"])
               for e in body["feed"]["entries"])


def test_feed_verifies_and_is_tied_to_the_tree_head(http: httpx.Client,
                                                    registry: Registry) -> None:
    body = fetch(http)
    key = node_key(http)
    verify_feed(body, key)
    assert body["node_key"] == key.hex()
    feed = body["feed"]
    chain = http.get("/v1/chain").json()
    assert feed["version"] == 1 and feed["chain_id"] == chain["chain_id"]
    sth = http.get(f"/v1/sth/{feed['height']}").json()
    assert (feed["tree_size"], feed["root_hash"], feed["time_ms"]) == (
        sth["tree_size"], sth["root_hash"], sth["time_ms"])
    assert feed["next_update_ms"] == feed["time_ms"] + NEXT_UPDATE_MS
    assert feed["serial"] == history_total(http, body)
    entry = entry_of(body, registry.number)
    assert entry["status"] == "valid" and entry["versions"] == ["1.0.0"]
    assert entry["vendor"] == "acme" and entry["product_type"] == "POS"
    assert entry["model"] == "SP-100" and entry["issued_ms"] == registry.issued_ms
    history = entry["status_history"]
    assert history[-1]["status"] == "valid" and history[-1]["effective_ms"] == registry.issued_ms
    # Each change's tx id fetches its receipt, which verifies against the node key.
    response = http.get(f"/v1/tx/{history[-1]['tx_id']}/receipt")
    assert response.status_code == 200, response.text
    verify_receipt(response.json(), key)


@pytest.mark.parametrize("tamper", ["serial", "status", "history", "entry_removed", "height"])
def test_tampering_breaks_the_signature(http: httpx.Client, tamper: str) -> None:
    body = copy.deepcopy(fetch(http))
    feed = body["feed"]
    if tamper == "serial":
        feed["serial"] += 1
    elif tamper == "status":
        feed["entries"][0]["status"] = "revoked"
    elif tamper == "history":
        feed["entries"][0]["status_history"][-1]["reason"] = "other"
    elif tamper == "entry_removed":
        feed["entries"].pop()
    else:
        feed["height"] -= 1
    with pytest.raises(FeedError, match="signature is invalid"):
        verify_feed(body, node_key(http))


def test_another_node_key_fails(http: httpx.Client) -> None:
    body = fetch(http)
    other = SigningKey.generate()
    with pytest.raises(FeedError, match="another node key"):
        verify_feed(body, other.public_key)
    # Even relabelled with the other key, the signature is the node's, not the other key's.
    body["node_key"] = other.public_key_hex
    with pytest.raises(FeedError, match="signature is invalid"):
        verify_feed(body, other.public_key)
    # A feed signed by another key over the same bytes does not pass as the node's.
    forged = {"feed": body["feed"], "node_key": node_key(http).hex(),
              "signature": other.sign(feed_message(body["feed"])).hex()}
    with pytest.raises(FeedError, match="signature is invalid"):
        verify_feed(forged, node_key(http))
    assert feed_message(body["feed"]).startswith(FEED_DOMAIN)
    with pytest.raises(FeedError):
        verify_feed({"feed": body["feed"]}, node_key(http))
    with pytest.raises(FeedError):
        verify_feed([], node_key(http))


def test_serial_grows_by_one_per_transition(http: httpx.Client, registry: Registry) -> None:
    before = fetch(http)
    with registry.node.client() as client:
        send_ok(client, registry.body, "suspend",
                step(registry.number, "defect",
                     correction_deadline_ms=registry.issued_ms + 30 * 86_400_000))
    after = fetch(http)
    verify_feed(after, node_key(http))
    assert after["feed"]["serial"] == before["feed"]["serial"] + 1
    assert after["feed"]["height"] > before["feed"]["height"]
    entry = entry_of(after, registry.number)
    assert entry["status"] == "suspended"
    last = entry["status_history"][-1]
    assert last["status"] == "suspended" and last["reason"] == "defect"
    assert len(entry["status_history"]) == len(
        entry_of(before, registry.number)["status_history"]) + 1
