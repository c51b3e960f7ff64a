"""The public CFP registry pages: search, certificates, the catalogue, vendors, and the mark.

No login: the registry is public. Every page works without JavaScript; where a page shows a
proof (a certificate valid at a time, a scanned mark), the browser also fetches the receipts
from the API and checks them itself (``/static/cfp.js`` with the explorer's ``receipt.js``).
A scanned mark is checked at this node whatever host its URL names; a picture of a mark is
decoded here (zxing-cpp) and never stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from consortia.ledger.params import read_param
from consortia.modules.certification import documents, queries
from consortia.modules.certification.api import base_url, mark_view
from consortia.modules.certification.logic import effective_status
from consortia.modules.certification.mark import (
    MarkError,
    ParsedMark,
    check_mark,
    mark_payload,
    parse_mark,
)
from consortia.modules.certification.types import (
    DAY_MS,
    ISSUED,
    REVOKED,
    USABLE,
    Certificate,
    ProductType,
    Transition,
)
from consortia.node.node import Node
from consortia.node.orderer import now_ms
from consortia.qr.errors import ImageError
from consortia.qr.image import IMAGE_BYTES_MAX, read_image
from consortia.web.pages import not_found, render
from consortia.web.sessions import same_origin
from consortia.web.uploads import UploadError, read_upload

router = APIRouter(include_in_schema=False)

RESULTS_PER_PAGE = 25  # further capped by the node's page_size_max
EXPIRING_DAYS_MAX = 3_650
QUERY_CHARS_MAX = 100
# Statuses the registry lists: those of issued certificates (applications are not listed).
LISTED_STATUSES = (*ISSUED, REVOKED, "cancelled", "expired")
# A multipart upload: the picture plus the form's framing.
UPLOAD_BYTES_MAX = IMAGE_BYTES_MAX + 64 * 1024

_NUMBER = re.compile(r"CFP-[0-9]{4}-[0-9]{6}")
_ID = re.compile(r"[0-9a-f]{64}")
_VENDOR = re.compile(r"[a-z0-9][a-z0-9_-]{2,39}")


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _page_size(node: Node) -> int:
    return max(1, min(RESULTS_PER_PAGE, node.config.page_size_max, queries.SEARCH_LIMIT_MAX))


def _catalogue(node: Node) -> dict[str, ProductType]:
    return {t.code: t for t in queries.product_types(node.chain.state)}


def _row(cert: Certificate, time_ms: int) -> dict[str, Any]:
    """One line of a certificate list."""
    return {"number": cert.number, "vendor": cert.vendor, "holder": cert.holder_name,
            "product_type": cert.product_type, "product": cert.product_name,
            "model": cert.model, "status": effective_status(cert, time_ms),
            "expires_ms": cert.expires_ms}


# -- the registry search ------------------------------------------------------------------------

@router.get("/cfp")
async def registry(request: Request, q: str = "", vendor: str = "", product_type: str = "",
                   status: str = "", expiring_days: str = "", after: str = "") -> Response:
    node = _node(request)
    state = node.chain.state
    catalogue = _catalogue(node)
    query = q.strip()[:QUERY_CHARS_MAX]
    if query:
        number = query.upper()
        if _NUMBER.fullmatch(number) and queries.certificate(state, number) is not None:
            return RedirectResponse(f"/cfp/certificates/{number}", status_code=303)
    errors: list[str] = []
    if query:
        errors.append(f"No certificate numbered {query}. A number reads CFP-yyyy-nnnnnn; "
                      "use the filters below for the rest.")
    vendor = vendor.strip()
    if vendor and not _VENDOR.fullmatch(vendor):
        errors.append("A vendor id is 3 to 40 of a-z 0-9 _ -.")
    if product_type and product_type not in catalogue:
        errors.append("Choose a product type from the catalogue.")
    if status and status not in LISTED_STATUSES:
        errors.append(f"Status is one of {', '.join(LISTED_STATUSES)}.")
    days = None
    if expiring_days.strip():
        text = expiring_days.strip()
        if not text.isdigit() or not 1 <= int(text) <= EXPIRING_DAYS_MAX:
            errors.append(f"Expiring within is 1 to {EXPIRING_DAYS_MAX} days.")
        else:
            days = int(text)
    if after and not _ID.fullmatch(after):
        errors.append("That page link is broken; start again.")
    filters = {"vendor": vendor, "product_type": product_type, "status": status,
               "expiring_days": expiring_days.strip()}
    time_ms = node.chain.head.time_ms
    rows: list[dict[str, Any]] = []
    next_link = None
    if not errors:
        size = _page_size(node)
        found = queries.search(
            state, time_ms, vendor=vendor or None, product_type=product_type or None,
            status=status or None,
            expires_from_ms=time_ms if days is not None else None,
            expires_to_ms=time_ms + days * DAY_MS if days is not None else None,
            after=after, limit=size)
        rows = [_row(c, time_ms) for c in found if c.number]
        if len(found) == size:
            next_link = "/cfp?" + urlencode({**{k: v for k, v in filters.items() if v},
                                             "after": found[-1].id})
    return render(request, "cfp_registry.html", 400 if errors else 200, nav="cfp",
                  query=query, filters=filters, catalogue=catalogue.values(),
                  statuses=LISTED_STATUSES, rows=rows, errors=errors, next_link=next_link,
                  paged=bool(after), time_ms=time_ms, expiring_days_max=EXPIRING_DAYS_MAX)


# -- a certificate ------------------------------------------------------------------------------

def _parse_at(text: str) -> int | None:
    """A ``datetime-local`` value (read as UTC) in milliseconds, or None if it is not one."""
    try:
        when = datetime.fromisoformat(text.strip()[:32])
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not 1970 <= when.year <= 9999:
        return None
    return max(0, int(when.timestamp() * 1000))


def _valid_at(node: Node, cert: Certificate, time_ms: int) -> dict[str, Any]:
    """The registry's answer for "was it valid at time_ms?" (its proof is fetched by the
    browser from the API's valid-at)."""
    state = node.chain.state
    current: Transition | None = None
    for change in queries.history(state, cert.id):
        if change.time_ms > time_ms:
            break
        current = change
    status = queries.status_at(state, cert.id, time_ms)
    return {"time_ms": time_ms, "status": status, "valid": status in USABLE,
            "transition": current}


@router.get("/cfp/certificates/{number}")
async def certificate_page(request: Request, number: str, at: str = "") -> Response:
    node = _node(request)
    chain = node.chain
    ref = number.strip()[:QUERY_CHARS_MAX]
    cert = queries.certificate(chain.state, ref) if ref else None
    if cert is None:
        return not_found(request, "Certificate not found",
                         f"The registry has no certificate {ref[:40]!r}.")
    if not cert.number:
        return not_found(request, "Not a certificate (yet)",
                         "This application has not been issued a certificate.")
    if ref != cert.number:
        suffix = f"?{urlencode({'at': at})}" if at else ""
        return RedirectResponse(f"/cfp/certificates/{cert.number}{suffix}", status_code=303)
    sth = chain.sth
    document = documents.certificate_document(chain.state, cert.number, sth.time_ms,
                                              chain_id=node.chain_id, height=sth.height)
    assert document is not None, cert.number
    answer = None
    at_error = ""
    if at.strip():
        at_ms = _parse_at(at)
        if at_ms is None:
            at_error = "Give a date and time, e.g. 2025-06-01T12:00 (UTC)."
        else:
            answer = _valid_at(node, cert, at_ms)
    marks = mark_view(chain.state, cert.number, base_url(request))
    return render(request, "cfp_certificate.html", 400 if at_error else 200, nav="cfp",
                  doc=document, sth=sth, marks=marks, at=at.strip()[:32], answer=answer,
                  at_error=at_error, usable=document["usable"])


# -- catalogue and vendors ----------------------------------------------------------------------

@router.get("/cfp/types")
async def product_types_page(request: Request) -> Response:
    types = queries.product_types(_node(request).chain.state)
    return render(request, "cfp_types.html", nav="cfp", types=types)


@router.get("/cfp/vendors/{vendor_id}")
async def vendor_page(request: Request, vendor_id: str) -> Response:
    node = _node(request)
    found = queries.vendor(node.chain.state, vendor_id[:QUERY_CHARS_MAX])
    if found is None:
        return not_found(request, "Vendor not found",
                         f"No vendor {vendor_id[:40]!r} is registered.")
    time_ms = node.chain.head.time_ms
    limit = max(1, min(node.config.page_size_max, queries.SEARCH_LIMIT_MAX))
    certs = queries.search(node.chain.state, time_ms, vendor=found.id, limit=limit)
    rows = [_row(c, time_ms) for c in certs if c.number]
    return render(request, "cfp_vendor.html", nav="cfp", vendor=found, rows=rows,
                  truncated=len(certs) == limit, applications=sum(not c.number for c in certs))


# -- the mark -----------------------------------------------------------------------------------

def _check_path(parsed: ParsedMark) -> str:
    """This node's check page of a parsed mark (never the host the mark names)."""
    return mark_payload("", parsed.number, parsed.signature)


def _scan_page(request: Request, status_code: int = 200, error: str = "",
               payload: str = "") -> Response:
    return render(request, "cfp_scan.html", status_code, nav="cfp", error=error,
                  payload=payload[:600], image_bytes_max=IMAGE_BYTES_MAX)


@router.get("/cfp/mark")
async def scan_page(request: Request, payload: str = "") -> Response:
    if not payload.strip():
        return _scan_page(request)
    try:
        parsed = parse_mark(payload)
    except MarkError as exc:
        return _scan_page(request, 400, str(exc), payload)
    return RedirectResponse(_check_path(parsed), status_code=303)


async def _uploaded_image(request: Request) -> bytes:
    """The picture of a multipart upload (field ``image``), bounded; ValueError says why."""
    try:
        upload = await read_upload(request, UPLOAD_BYTES_MAX, fields_max=4)
    except UploadError as exc:
        raise ValueError(f"the picture is too large: at most {IMAGE_BYTES_MAX} bytes"
                         if "too large" in str(exc) else str(exc)) from None
    image = upload.files.get("image")
    if image is None:
        raise ValueError("choose a picture of the mark to upload")
    return image


@router.post("/cfp/mark")
async def scan_upload(request: Request) -> Response:
    if not same_origin(request):
        return _scan_page(request, 403, "This form was sent from another site.")
    try:
        data = await _uploaded_image(request)
        codes = read_image(data)
    except (ValueError, ImageError) as exc:
        return _scan_page(request, 400, str(exc))
    for text in codes:
        try:
            parsed = parse_mark(text)
        except MarkError:
            continue
        return RedirectResponse(_check_path(parsed), status_code=303)
    if codes:
        return _scan_page(request, 400, f"The picture holds {len(codes)} QR code(s), but none "
                          "is a CFP mark.")
    return _scan_page(request, 400, "No QR code could be read in the picture. Try a sharper, "
                      "well-lit picture with the whole code in view.")


@router.get("/cfp/mark/{number}")
async def mark_check_page(request: Request, number: str, s: str = "") -> Response:
    node = _node(request)
    payload = f"{base_url(request)}/cfp/mark/{number[:QUERY_CHARS_MAX]}?{urlencode({'s': s})}"
    try:
        result = check_mark(node.chain.state, payload, max(now_ms(), node.chain.head.time_ms))
    except MarkError as exc:
        return _scan_page(request, 400, str(exc))
    return render(request, "cfp_mark_check.html", nav="cfp", check=result, payload=payload,
                  check_url="/v1/certification/marks/check?" + urlencode({"payload": payload}),
                  allowed_contexts=read_param(node.chain.state, "cfp_mark_contexts"))
