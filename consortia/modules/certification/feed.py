"""The signed, machine-readable registry feed (the FIDO Metadata Service's bulk file, from the
ledger).

The feed is a JSON object ``{"feed": {...}, "signature": hex, "node_key": hex}``. The signature
is Ed25519 by the node key over ``b"consortia/cfp-feed/v1" ‖ canonical_json(feed)``
(RFC 8785, see ``consortia.crypto.hashing.canonical_json``); the domain prefix keeps a feed
signature from ever being taken for a signed tree head or a tx signature.

``serial`` is the number of status transitions recorded across all certificates, so it grows
by exactly one with every status change and every node computes the same serial from the same
state. ``height``/``time_ms``/``tree_size``/``root_hash`` are the signed tree head the feed was
built at; each history entry's ``tx_id`` fetches the receipt of that change.
"""

from __future__ import annotations

from typing import Any

import msgspec

from consortia.crypto.hashing import canonical_json
from consortia.crypto.hexbytes import fixed_hex
from consortia.crypto.keys import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, SigningKey, verify
from consortia.ledger.receipts import SignedTreeHead
from consortia.ledger.state import Reader
from consortia.modules.certification import queries
from consortia.modules.certification.logic import effective_status
from consortia.modules.certification.types import (
    CERTIFICATE_PREFIX,
    FEED_SERIAL_KEY,
    Certificate,
)

FEED_DOMAIN = b"consortia/cfp-feed/v1"
FEED_VERSION = 1
NEXT_UPDATE_MS = 86_400_000  # next_update_ms = time_ms + 24 h
ENTRIES_MAX = 10_000  # entries per feed; larger registries page with ?after=<certificate id>


class FeedError(ValueError):
    """A feed that does not verify; the message says which check failed."""


def feed_message(feed: dict[str, Any]) -> bytes:
    """The signed bytes: ``b"consortia/cfp-feed/v1" ‖ canonical_json(feed)``."""
    return FEED_DOMAIN + canonical_json(feed)


def serial(source: Reader) -> int:
    """Status transitions recorded across every certificate (each one adds exactly one): the
    running total the certification module keeps as it appends to a history, so O(1)."""
    return source.get(FEED_SERIAL_KEY, int) or 0


def entry(source: Reader, cert: Certificate, time_ms: int) -> dict[str, Any]:
    return {
        "id": cert.id,
        "number": cert.number,
        "vendor": cert.vendor,
        "product_type": cert.product_type,
        "product_name": cert.product_name,
        "model": cert.model,
        "versions": list(cert.versions),
        "issued_ms": cert.issued_ms,
        "expires_ms": cert.expires_ms,
        "status": effective_status(cert, time_ms),
        "status_history": [{"status": t.to, "effective_ms": t.time_ms, "reason": t.reason,
                            "tx_id": t.tx_id}
                           for t in queries.transitions(source, cert.id)],
    }


def build_feed(source: Reader, sth: SignedTreeHead, chain_id: str, after: str = "",
               limit: int = ENTRIES_MAX) -> dict[str, Any]:
    """The unsigned feed of ``source`` at the signed tree head ``sth`` (certificates in id
    order after ``after``, at most ``limit``)."""
    limit = max(1, min(limit, ENTRIES_MAX))
    entries: list[dict[str, Any]] = []
    # The least key above the cursor's: only this page's keys are read.
    start = CERTIFICATE_PREFIX + after + "\x00" if after else ""
    for key in source.keys(CERTIFICATE_PREFIX, start=start, limit=limit):
        cert = source.get(key, Certificate)
        assert cert is not None, key
        entries.append(entry(source, cert, sth.time_ms))
    return {
        "version": FEED_VERSION,
        "chain_id": chain_id,
        "serial": serial(source),
        "height": sth.height,
        "time_ms": sth.time_ms,
        "next_update_ms": sth.time_ms + NEXT_UPDATE_MS,
        "tree_size": sth.tree_size,
        "root_hash": sth.root_hash.hex(),
        "after": after,
        "next_after": entries[-1]["id"] if len(entries) == limit else None,
        "entries": entries,
    }


def sign_feed(key: SigningKey, feed: dict[str, Any]) -> dict[str, Any]:
    return {"feed": feed, "signature": key.sign(feed_message(feed)).hex(),
            "node_key": key.public_key_hex}


def verify_feed(body: Any, node_key: bytes) -> None:
    """Check a feed body against a node's public key alone; raise FeedError saying what failed."""
    if not isinstance(body, dict):
        raise FeedError("feed body is not a JSON object")
    feed = body.get("feed")
    if not isinstance(feed, dict):
        raise FeedError("feed body has no feed object")
    if feed.get("version") != FEED_VERSION:
        raise FeedError(f"feed version is not {FEED_VERSION}")
    if len(node_key) != PUBLIC_KEY_BYTES:
        raise FeedError("node key must be 32 bytes")
    claimed = body.get("node_key")
    if claimed is not None and claimed != node_key.hex():
        raise FeedError("feed is signed by another node key")
    signature = fixed_hex(body.get("signature"), SIGNATURE_BYTES)
    if signature is None:
        raise FeedError(f"signature must be {SIGNATURE_BYTES} bytes as hex")
    try:
        message = feed_message(feed)
    except (TypeError, ValueError, msgspec.EncodeError):
        raise FeedError("feed cannot be encoded canonically") from None
    if not verify(node_key, message, signature):
        raise FeedError("feed signature is invalid")
