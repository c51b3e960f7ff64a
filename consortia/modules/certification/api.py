"""HTTP routes of the certification registry (reads; changes are signed txs sent to /v1/tx).

The registry is public: the catalogue, certificates with their effective status and history,
devices and vendors answer to anyone. Statuses are effective at the latest block's time unless
a time is asked for. ``valid-at`` answers "was this certificate valid at time T?" with the
transition in effect at T and the receipt of its tx, so the answer can be checked offline
against the node's key (``consortia.ledger.receipts.verify_receipt``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query

from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.ledger.state import Reader
from consortia.modules.certification import feed as registry_feed
from consortia.modules.certification import queries
from consortia.modules.certification.logic import effective_status
from consortia.modules.certification.types import (
    STATUSES,
    USABLE,
    Certificate,
    Device,
    Transition,
)
from consortia.node.node import Node

router = APIRouter(prefix="/v1/certification", tags=["certification"])
NodeDep = Annotated[Node, Depends(get_node)]

# Times are SQLite integers (signed 64-bit) of milliseconds since the epoch.
TIME_MAX = 2**63 - 1
TimeMs = Annotated[int, Query(ge=0, le=TIME_MAX, description="milliseconds since the epoch")]
REF_CHARS_MAX = 100


# -- views --------------------------------------------------------------------------------------

def transition_view(t: Transition) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(t)
    return out


def certificate_summary(cert: Certificate, time_ms: int) -> dict[str, Any]:
    return queries.view(cert, time_ms)


def device_view(d: Device, vendor_key: str | None = None) -> dict[str, Any]:
    """A device; with the vendor's key and a registered credential signature, also the whole
    credential the device attaches to its txs."""
    out: dict[str, Any] = msgspec.to_builtins(d)
    if vendor_key is not None and d.credential_signature:
        out["credential"] = {"device_key": d.device_key, "product_id": d.certificate,
                             "model": d.model, "version": d.version, "vendor_key": vendor_key,
                             "signature": d.credential_signature}
    return out


# -- lookups that answer 404 --------------------------------------------------------------------

def _ref(ref: str) -> str:
    if not ref or len(ref) > REF_CHARS_MAX:
        raise ApiError(400, "bad_certificate", "a certificate number (CFP-…) or application id "
                       f"of at most {REF_CHARS_MAX} characters")
    return ref


def _certificate(state: Reader, ref: str) -> Certificate:
    found = queries.certificate(state, _ref(ref))
    if found is None:
        raise ApiError(404, "unknown_certificate", f"no certificate {ref[:40]!r}")
    return found


def _head_ms(node: Node) -> int:
    return node.chain.head.time_ms


# -- routes -------------------------------------------------------------------------------------

@router.get("/product-types", summary="The catalogue: product types with their standards and "
            "test items")
async def product_types(node: NodeDep) -> dict[str, Any]:
    return {"product_types": [msgspec.to_builtins(t)
                              for t in queries.product_types(node.chain.state)]}


@router.get("/certificates", summary="Search certificates (id order, paged with after); "
            "status is the effective status at the latest block's time")
async def certificates(node: NodeDep,
                       vendor: Annotated[str | None, Query(max_length=REF_CHARS_MAX)] = None,
                       product_type: Annotated[str | None,
                                               Query(max_length=REF_CHARS_MAX)] = None,
                       status: Annotated[str | None, Query(max_length=40)] = None,
                       expires_before_ms: Annotated[int | None,
                                                    Query(ge=0, le=TIME_MAX)] = None,
                       after: Annotated[str, Query(max_length=REF_CHARS_MAX,
                                                   description="certificate id to page on "
                                                   "from")] = "",
                       limit: Annotated[int, Query(ge=1)] = 50) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise ApiError(400, "bad_status", f"status is one of {', '.join(STATUSES)}")
    limit = min(limit, node.config.page_size_max, queries.SEARCH_LIMIT_MAX)
    time_ms = _head_ms(node)
    found = queries.search(node.chain.state, time_ms, vendor=vendor, product_type=product_type,
                           status=status, expires_to_ms=expires_before_ms, after=after,
                           limit=limit)
    return {"time_ms": time_ms,
            "certificates": [certificate_summary(c, time_ms) for c in found],
            "next_after": found[-1].id if len(found) == limit else None}


@router.get("/certificates/{number}", summary="One certificate: every field, effective status, "
            "certified versions, and its history with each transition's tx id")
async def certificate(number: str, node: NodeDep) -> dict[str, Any]:
    state = node.chain.state
    cert = _certificate(state, number)
    time_ms = _head_ms(node)
    out = certificate_summary(cert, time_ms)
    out["time_ms"] = time_ms
    out["usable"] = out["status"] in USABLE
    out["history"] = [transition_view(t) for t in queries.history(state, cert.id)]
    return out


@router.get("/certificates/{number}/valid-at", summary="Was the certificate valid at time_ms? "
            "With the transition in effect then and its tx's receipt (provable offline)")
async def valid_at(number: str, node: NodeDep, time_ms: TimeMs) -> dict[str, Any]:
    state = node.chain.state
    cert = _certificate(state, number)
    current: Transition | None = None
    for change in queries.history(state, cert.id):
        if change.time_ms > time_ms:
            break
        current = change
    # The status is the registry's own rule (queries.status_at); the transition is its proof.
    status = queries.status_at(state, cert.id, time_ms)
    receipt: dict[str, Any] | None = None
    if current is not None and current.tx_id:
        receipt = node.chain.receipt(bytes.fromhex(current.tx_id))
    return {"number": cert.number or cert.id, "id": cert.id, "time_ms": time_ms,
            "valid": status in USABLE, "status": status,
            "transition": None if current is None else transition_view(current),
            "receipt": receipt}


@router.get("/certificates/{number}/devices", summary="Devices registered under a certificate, "
            "in device key order (bounded)")
async def certificate_devices(number: str, node: NodeDep,
                              limit: Annotated[int, Query(ge=1)] = 100) -> dict[str, Any]:
    state = node.chain.state
    cert = _certificate(state, number)
    limit = min(limit, node.config.page_size_max, queries.DEVICES_LIMIT_MAX)
    found = queries.devices(state, cert.number, limit) if cert.number else []
    return {"number": cert.number, "status": effective_status(cert, _head_ms(node)),
            "devices": [device_view(d) for d in found], "limit": limit,
            "truncated": len(found) == limit}


@router.get("/devices/{device_key}", summary="A registered device and its certificate's "
            "effective status")
async def device(device_key: str, node: NodeDep) -> dict[str, Any]:
    state = node.chain.state
    found = queries.device(state, device_key[:REF_CHARS_MAX])
    if found is None:
        raise ApiError(404, "unknown_device", f"no device {device_key[:64]!r}")
    holder = queries.vendor(state, found.vendor)
    out = device_view(found, None if holder is None else holder.key)
    cert = queries.certificate(state, found.certificate)
    status = None if cert is None else effective_status(cert, _head_ms(node))
    out["certificate_status"] = status
    out["admitted"] = status in USABLE
    return out


@router.get("/vendors/{vendor_id}", summary="A vendor and its certificates (bounded)")
async def vendor(vendor_id: str, node: NodeDep) -> dict[str, Any]:
    state = node.chain.state
    found = queries.vendor(state, vendor_id[:REF_CHARS_MAX])
    if found is None:
        raise ApiError(404, "unknown_vendor", f"no vendor {vendor_id[:40]!r}")
    time_ms = _head_ms(node)
    limit = min(node.config.page_size_max, queries.SEARCH_LIMIT_MAX)
    certs = queries.search(state, time_ms, vendor=found.id, limit=limit)
    out: dict[str, Any] = msgspec.to_builtins(found)
    out["certificates"] = [{"id": c.id, "number": c.number, "product_type": c.product_type,
                            "product_name": c.product_name, "model": c.model,
                            "status": effective_status(c, time_ms)} for c in certs]
    out["certificates_truncated"] = len(certs) == limit
    return out


FEED_RETRIES = 5


@router.get("/feed", summary="The signed registry feed: every certificate with its status "
            "history, tied to the latest signed tree head (Ed25519 by the node key over "
            "b\"consortia/cfp-feed/v1\" ‖ canonical_json(feed))")
async def feed(node: NodeDep,
               after: Annotated[str, Query(max_length=REF_CHARS_MAX,
                                           description="certificate id to page on from")] = "",
               ) -> dict[str, Any]:
    chain = node.chain
    # Blocks commit on another thread: build again if the tree head moved meanwhile, so the
    # entries are those of the state at the signed tree head the feed names.
    for _ in range(FEED_RETRIES):
        sth = chain.sth
        built = registry_feed.build_feed(chain.state, sth, node.chain_id, after=after)
        if chain.sth is sth:
            break
    return registry_feed.sign_feed(node.key, built)
