"""HTTP routes of the certification registry (reads; changes are signed txs sent to /v1/tx).

The registry is public: the catalogue, certificates with their effective status and history,
devices and vendors answer to anyone. Statuses are effective at the latest block's time unless
a time is asked for. ``valid-at`` answers "was this certificate valid at time T?" with the
transition in effect at T and the receipt of its tx, so the answer can be checked offline
against the node's key (``consortia.ledger.receipts.verify_receipt``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request, Response

from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.ledger.params import read_param
from consortia.ledger.receipts import SignedTreeHead
from consortia.ledger.state import Reader
from consortia.modules.certification import documents, queries
from consortia.modules.certification import feed as registry_feed
from consortia.modules.certification.logic import effective_status
from consortia.modules.certification.mark import (
    PAYLOAD_CHARS_MAX,
    MarkError,
    check_mark,
    mark_payload,
    parse_mark,
)
from consortia.modules.certification.types import (
    MARK_USES_MAX,
    MISUSE_REPORTS_MAX,
    STATUSES,
    USABLE,
    Certificate,
    Device,
    Mark,
    MarkUse,
    MisuseReport,
    Transition,
    mark_key,
    mark_signature_key,
    mark_use_key,
    misuse_key,
)
from consortia.node.node import Node
from consortia.node.orderer import now_ms
from consortia.qr.image import render_png, render_svg

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
# Signed feed pages kept, each up to feed.ENTRIES_MAX entries (about 12 MB at 10,000).
FEED_CACHE_PAGES = 4
# Signed feed pages as JSON by (node key, tree size, root hash, after): a page is a function of
# the tree head it names, so until the next block every request gets the same bytes instead of
# a rebuild (about a second for 10,000 entries).
_feed_pages: dict[tuple[str, int, bytes, str], bytes] = {}


def _feed_page_key(node: Node, sth: SignedTreeHead, after: str) -> tuple[str, int, bytes, str]:
    return node.key.public_key_hex, sth.tree_size, sth.root_hash, after


def _signed_feed_page(node: Node, after: str) -> tuple[tuple[str, int, bytes, str] | None,
                                                      bytes]:
    """(cache key or None, the signed page as JSON); runs in a worker thread."""
    chain = node.chain
    # Blocks commit on another thread: build again if the tree head moved meanwhile, so the
    # entries are those of the state at the signed tree head the feed names.
    for _ in range(FEED_RETRIES):
        sth = chain.sth
        built = registry_feed.build_feed(chain.state, sth, node.chain_id, after=after)
        if chain.sth is sth:
            break
    # msgspec, not the framework's encoder: ~50 ms instead of ~2 s for 10,000 entries.
    body = msgspec.json.encode(registry_feed.sign_feed(node.key, built))
    return (_feed_page_key(node, sth, after) if chain.sth is sth else None), body


@router.get("/feed", summary="The signed registry feed: every certificate with its status "
            "history, tied to the latest signed tree head (Ed25519 by the node key over "
            "b\"consortia/cfp-feed/v1\" ‖ canonical_json(feed))")
async def feed(node: NodeDep,
               after: Annotated[str, Query(max_length=REF_CHARS_MAX,
                                           description="certificate id to page on from")] = "",
               ) -> Response:
    cached = _feed_pages.get(_feed_page_key(node, node.chain.sth, after))
    if cached is not None:
        return Response(cached, media_type="application/json")
    # In a thread: other requests are served while a page is built.
    key, page = await asyncio.to_thread(_signed_feed_page, node, after)
    if key is not None:
        # Pages of older tree heads are never asked for again; the newest stay.
        for stale in [k for k in _feed_pages if k[:3] != key[:3]]:
            del _feed_pages[stale]
        while len(_feed_pages) >= FEED_CACHE_PAGES:
            del _feed_pages[next(iter(_feed_pages))]
        _feed_pages[key] = page
    return Response(page, media_type="application/json")


# -- certificate documents and the mark ---------------------------------------------------------

def _issued(state: Reader, number: str) -> Certificate:
    """The issued certificate ``number``: 404 for an unknown one or an application."""
    cert = _certificate(state, number)
    if not cert.number:
        raise ApiError(404, "not_issued", f"application {cert.id[:16]}… has no certificate "
                       "(yet): ask by certificate number once it is issued")
    return cert


def _now_ms(node: Node) -> int:
    """Now for a mark check: the clock, or the latest block's time if that is later, so a
    certificate whose term ended since the last block already shows expired."""
    return max(now_ms(), _head_ms(node))


def base_url(request: Request) -> str:
    """This node's address as the request reached it: the start of the mark's URL."""
    return str(request.base_url).rstrip("/")


def signed_document(node: Node, number: str) -> dict[str, Any]:
    """The certificate's signed JSON, read at the latest signed tree head (404 if none)."""
    chain = node.chain
    number = _issued(chain.state, number).number
    # Blocks commit on another thread: read again if the tree head moved meanwhile, so the
    # document is that of the state at the tree head it names.
    for _ in range(FEED_RETRIES):
        sth = chain.sth
        document = documents.certificate_document(chain.state, number, sth.time_ms,
                                                  chain_id=node.chain_id, height=sth.height)
        if chain.sth is sth:
            break
    assert document is not None, number
    return documents.sign_certificate_document(node.key, document, sth)


def mark_view(state: Reader, number: str, base: str) -> dict[str, Any]:
    """The published mark (or None), its QR payload, and the declared uses and misuse
    reports of issued certificate ``number``."""
    found = state.get(mark_key(number), Mark)
    uses = state.records(mark_use_key(number, ""), MarkUse)[:MARK_USES_MAX]
    reports = state.records(misuse_key(number, ""), MisuseReport)[:MISUSE_REPORTS_MAX]
    return {
        "number": number,
        "mark": None if found is None else msgspec.to_builtins(found),
        "payload": None if found is None else mark_payload(base, number, found.signature),
        "allowed_contexts": read_param(state, "cfp_mark_contexts"),
        "uses": [msgspec.to_builtins(u) for u in uses],
        "misuse_reports": [msgspec.to_builtins(r) for r in reports],
    }


async def checked_mark(node: Node, payload: str) -> dict[str, Any]:
    """``check_mark`` now, with its proof: the receipt of the tx that published this mark
    (when genuine) and the valid-at answer, whose receipt is that of the transition in
    effect now. ``mark.verify_mark_answer`` checks it all offline."""
    state = node.chain.state
    time_ms = _now_ms(node)
    try:
        result = check_mark(state, payload, time_ms)
    except MarkError as exc:
        raise ApiError(400, "bad_mark", str(exc)) from None
    out: dict[str, Any] = msgspec.to_builtins(result)
    publication: dict[str, Any] | None = None
    if result.genuine:
        tx_id = state.get(mark_signature_key(result.number, parse_mark(payload).signature), str)
        assert tx_id is not None, result.number
        publication = node.chain.receipt(bytes.fromhex(tx_id))
    answer = None if result.status is None else await valid_at(result.number, node, time_ms)
    out["proof"] = {"publication": publication, "valid_at": answer}
    return out


def _mark_payload_of(request: Request, node: Node, number: str) -> str:
    state = node.chain.state
    cert = _issued(state, number)
    found = state.get(mark_key(cert.number), Mark)
    if found is None:
        raise ApiError(404, "no_mark", f"{cert.number} has no published mark")
    return mark_payload(base_url(request), cert.number, found.signature)


@router.get("/certificates/{number}/certificate.json", summary="The certificate document, "
            "signed by the node key over b\"consortia/cfp-certificate/v1\" ‖ "
            "canonical_json(document), with the signed tree head it was read at")
async def certificate_json(number: str, node: NodeDep) -> dict[str, Any]:
    return signed_document(node, number)


@router.get("/certificates/{number}/certificate.pdf", summary="The certificate as a printable "
            "PDF (Latin-1 text: English names)", response_class=Response)
async def certificate_pdf(number: str, node: NodeDep, request: Request) -> Response:
    signed = signed_document(node, number)
    number = signed["document"]["number"]
    found = node.chain.state.get(mark_key(number), Mark)
    base = base_url(request)
    payload = "" if found is None else mark_payload(base, number, found.signature)
    # A PDF takes tens of milliseconds to lay out: not on the event loop.
    pdf = await asyncio.to_thread(documents.certificate_pdf, signed,
                                  page_url=f"{base}/cfp/certificates/{number}",
                                  mark_payload=payload)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{number}.pdf"'})


@router.get("/certificates/{number}/mark", summary="The certificate's published mark, the QR "
            "payload, the contexts governance allows, declared uses and misuse reports")
async def certificate_mark(number: str, node: NodeDep, request: Request) -> dict[str, Any]:
    cert = _issued(node.chain.state, number)
    return mark_view(node.chain.state, cert.number, base_url(request))


@router.get("/certificates/{number}/mark.svg", summary="The mark's QR code (SVG)",
            response_class=Response)
async def certificate_mark_svg(number: str, node: NodeDep, request: Request) -> Response:
    return Response(render_svg(_mark_payload_of(request, node, number)),
                    media_type="image/svg+xml")


@router.get("/certificates/{number}/mark.png", summary="The mark's QR code (PNG)",
            response_class=Response)
async def certificate_mark_png(number: str, node: NodeDep, request: Request) -> Response:
    return Response(render_png(_mark_payload_of(request, node, number)),
                    media_type="image/png")


@router.get("/marks/check", summary="Scan a mark: is it genuine, is the certificate valid now? "
            "With the receipts that prove it (mark.verify_mark_answer)")
async def mark_check(node: NodeDep,
                     payload: Annotated[str, Query(max_length=PAYLOAD_CHARS_MAX,
                                                   description="the mark's QR text")],
                     ) -> dict[str, Any]:
    return await checked_mark(node, payload)
