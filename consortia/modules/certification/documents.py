"""The certificate document: its data, its signed JSON, and its PDF.

The document states everything a CFP certificate states (number, holder and address, product,
model and versions, manufacturer and factory, standards, scope, certification model, issuing
body, issue and expiry dates) with its effective status and history at a signed tree head.

The signed JSON is ``{"document": {...}, "sth": {...}, "signature": hex, "node_key": hex}``:
``signature`` is Ed25519 by the node key over ``b"consortia/cfp-certificate/v1" ‖
canonical_json(document)``, and ``sth`` is the node's signed tree head the document was read at
(``document["as_of"]`` names it). ``issue_tx`` is the tx that issued the certificate: its
receipt (``GET /v1/tx/{id}/receipt``) proves the issue; each history entry's ``tx_id`` proves
that change. ``verify_certificate_document`` is the reference verifier.

The PDF uses the PDF core fonts, which cover Latin-1 only: it gives English names, and any
other character (Chinese names, say) is printed as ``?``. The HTML page and the signed JSON
carry the exact text.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime
from typing import Any

import msgspec
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from consortia.crypto.hashing import canonical_json
from consortia.crypto.hexbytes import fixed_hex
from consortia.crypto.keys import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, SigningKey, verify
from consortia.ledger.receipts import SignedTreeHead, sth_message
from consortia.ledger.state import Reader
from consortia.modules.certification import queries
from consortia.modules.certification.logic import certificate_of, effective_status
from consortia.modules.certification.types import (
    USABLE,
    VALID,
    ProductType,
    product_type_key,
)
from consortia.modules.governance.types import Member, member_key
from consortia.qr.image import render_png

DOCUMENT_DOMAIN = b"consortia/cfp-certificate/v1"
DOCUMENT_VERSION = 1
# The PDF shows the latest changes only: a certificate's history is bounded (1,000) but a
# printed page need not be; the signed JSON has them all.
PDF_HISTORY_ROWS_MAX = 60
PDF_BYTES_MAX = 2_000_000  # asserted: a PDF beyond this would mean a layout bug
ISSUE_ACTION = "decide"
TX_SHOWN_CHARS = 16  # of a history row's tx id in the PDF (the JSON has the full ids)


class DocumentError(ValueError):
    """A signed certificate document that does not verify; the message says which check."""


def _member_name(source: Reader, member_id: str) -> tuple[str, str]:
    member = source.get(member_key(member_id), Member)
    return ("", "") if member is None else (member.name, member.key)


def certificate_document(source: Reader, number: str, time_ms: int, *, chain_id: str = "",
                         height: int = 0) -> dict[str, Any] | None:
    """The document of the issued certificate ``number`` with its status effective at
    ``time_ms`` (the tree head at ``height``); None for an unknown number or an application
    that was never issued."""
    cert = certificate_of(source, number)
    if cert is None or not cert.number or cert.number != number:
        return None
    product_type = source.get(product_type_key(cert.product_type), ProductType)
    assert product_type is not None, cert.product_type
    body_name, body_key = _member_name(source, cert.body)
    history = queries.history(source, cert.id)
    issue_tx = next((t.tx_id for t in history if t.action == ISSUE_ACTION and t.to == VALID),
                    "")
    status = effective_status(cert, time_ms)
    return {
        "version": DOCUMENT_VERSION,
        "chain_id": chain_id,
        "as_of": {"height": height, "time_ms": time_ms},
        "number": cert.number,
        "id": cert.id,
        "status": status,
        "usable": status in USABLE,
        "stored_status": cert.status,
        "holder": {"vendor": cert.vendor, "name": cert.holder_name,
                   "address": cert.holder_address},
        "product": {"type": cert.product_type, "type_name_en": product_type.name_en,
                    "type_name_zh": product_type.name_zh, "name": cert.product_name,
                    "model": cert.model, "version": cert.versions[-1],
                    "versions": list(cert.versions)},
        "manufacturer": cert.manufacturer,
        "factory": cert.factory,
        "standards": list(cert.standards),
        "scope": cert.scope,
        "certification_model": cert.certification_model,
        "issuing_body": {"id": cert.body, "name": body_name, "key": body_key},
        "lab": cert.lab,
        "test_report_tx": cert.test_report_tx,
        "issued_ms": cert.issued_ms,
        "term_start_ms": cert.term_start_ms,
        "expires_ms": cert.expires_ms,
        "correction_deadline_ms": cert.correction_deadline_ms,
        "issue_tx": issue_tx,
        "history": [msgspec.to_builtins(t) for t in history],
    }


# -- the signed JSON ----------------------------------------------------------------------------

def document_message(document: dict[str, Any]) -> bytes:
    """The signed bytes: ``b"consortia/cfp-certificate/v1" ‖ canonical_json(document)``."""
    return DOCUMENT_DOMAIN + canonical_json(document)


def sign_certificate_document(key: SigningKey, document: dict[str, Any],
                              sth: SignedTreeHead) -> dict[str, Any]:
    """The signed JSON of ``document``, read at the tree head ``sth``."""
    assert document["as_of"] == {"height": sth.height, "time_ms": sth.time_ms}, document["as_of"]
    return {"document": document, "sth": sth.to_json_dict(),
            "signature": key.sign(document_message(document)).hex(),
            "node_key": key.public_key_hex}


def _hex(value: Any, what: str, size: int) -> bytes:
    raw = fixed_hex(value, size)
    if raw is None:
        raise DocumentError(f"{what} must be {size} bytes as hex")
    return raw


def _count(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value < 2**64:
        raise DocumentError(f"{what} must be a non-negative integer")
    return value


def verify_certificate_document(body: Any, node_key: bytes) -> None:
    """Check a signed certificate document against a node's public key alone: the document's
    signature, and the tree head it names (signed by the same key, the same height and time).
    Raise DocumentError saying what failed."""
    if not isinstance(body, dict):
        raise DocumentError("the certificate body is not a JSON object")
    document = body.get("document")
    if not isinstance(document, dict):
        raise DocumentError("the certificate body has no document object")
    if document.get("version") != DOCUMENT_VERSION:
        raise DocumentError(f"document version is not {DOCUMENT_VERSION}")
    if len(node_key) != PUBLIC_KEY_BYTES:
        raise DocumentError("node key must be 32 bytes")
    claimed = body.get("node_key")
    if claimed is not None and claimed != node_key.hex():
        raise DocumentError("the document is signed by another node key")
    signature = _hex(body.get("signature"), "signature", SIGNATURE_BYTES)
    try:
        message = document_message(document)
    except (TypeError, ValueError, msgspec.EncodeError):
        raise DocumentError("the document cannot be encoded canonically") from None
    if not verify(node_key, message, signature):
        raise DocumentError("the document signature is invalid")
    sth = body.get("sth")
    if not isinstance(sth, dict):
        raise DocumentError("the certificate body has no signed tree head")
    if _hex(sth.get("node_key"), "sth node_key", PUBLIC_KEY_BYTES) != node_key:
        raise DocumentError("the signed tree head is from another node key")
    size, height = _count(sth.get("tree_size"), "tree_size"), _count(sth.get("height"), "height")
    time_ms = _count(sth.get("time_ms"), "time_ms")
    root = _hex(sth.get("root_hash"), "root_hash", 32)
    sth_signature = _hex(sth.get("signature"), "sth signature", SIGNATURE_BYTES)
    if not verify(node_key, sth_message(size, root, height, time_ms), sth_signature):
        raise DocumentError("the signed tree head's signature is invalid")
    if document.get("as_of") != {"height": height, "time_ms": time_ms}:
        raise DocumentError("the document is not read at the signed tree head it carries")


# -- the PDF ------------------------------------------------------------------------------------

def latin1(text: str) -> str:
    """``text`` in the PDF core fonts' Latin-1: accents kept where Latin-1 has them, other
    letters decomposed to their base letter, anything else (CJK, say) shown as ``?``."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        if ord(char) < 256:
            out.append(char if char.isprintable() else " ")
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char)
                       if not unicodedata.combining(c))
        out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


def _date(time_ms: int) -> str:
    if not time_ms:
        return "-"
    return datetime.fromtimestamp(time_ms // 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


class _Pdf(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 7)
        self.set_text_color(110)
        self.cell(0, 5, f"Consortia CFP registry - page {self.page_no()}/{{nb}}",
                  align="C")


def _row(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(48, 6, latin1(label), new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 6, latin1(value) or "-", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def certificate_pdf(signed: dict[str, Any], *, page_url: str = "",
                    mark_payload: str = "") -> bytes:
    """The printable certificate of a signed document (``sign_certificate_document``): every
    field, the latest history, the node's signature and tree head, and the mark's QR code when
    ``mark_payload`` is given. ``page_url`` is where the certificate can be checked online."""
    doc, sth = signed["document"], signed["sth"]
    pdf = _Pdf(format="A4")
    pdf.set_title(latin1(f"CFP certificate {doc['number']}"))
    pdf.set_author("Consortia")
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, "Certification of Fintech Products (CFP)", new_x=XPos.LMARGIN,
             new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, latin1(f"Certificate No. {doc['number']}"), new_x=XPos.LMARGIN,
             new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    status = doc["status"].replace("_", " ")
    pdf.cell(0, 7, latin1(f"Status: {status} (as of {_date(doc['as_of']['time_ms'])}, block "
                          f"{doc['as_of']['height']})"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if mark_payload:
        # The mark in the top right corner, beside the title.
        pdf.image(io.BytesIO(render_png(mark_payload, scale=4)), x=pdf.w - 10 - 32, y=10, w=32,
                  h=32)
    pdf.ln(3)
    product = doc["product"]
    body = doc["issuing_body"]
    for label, value in (
            ("Holder", doc["holder"]["name"]),
            ("Holder address", doc["holder"]["address"]),
            ("Product", product["name"]),
            ("Product type", f"{product['type_name_en']} ({product['type']})"),
            ("Model", product["model"]),
            ("Certified versions", ", ".join(product["versions"])),
            ("Manufacturer", doc["manufacturer"]),
            ("Factory", doc["factory"]),
            ("Standards", ", ".join(doc["standards"])),
            ("Scope", doc["scope"]),
            ("Certification model", doc["certification_model"].replace("+", " + ")),
            ("Issuing body", f"{body['name']} ({body['id']})" if body["name"] else body["id"]),
            ("Issued", _date(doc["issued_ms"])),
            ("Current term from", _date(doc["term_start_ms"])),
            ("Expires", _date(doc["expires_ms"])),
            ("Issuing transaction", doc["issue_tx"])):
        _row(pdf, label, value)
    history = doc["history"]
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Status history", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    shown = history[-PDF_HISTORY_ROWS_MAX:]
    pdf.set_font("Helvetica", "", 7.5)
    if len(shown) < len(history):
        pdf.cell(0, 5, f"The latest {len(shown)} of {len(history)} changes; the signed JSON "
                 "has them all.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    with pdf.table(col_widths=(28, 46, 36, 40, 40), text_align="LEFT",
                   first_row_as_headings=True, line_height=4.5) as table:
        table.row(["Time (UTC)", "Change", "Action", "Reason", "Transaction"])
        for change in shown:
            table.row([_date(change["time_ms"]).replace(" UTC", ""),
                       latin1(f"{change['from']} -> {change['to']}".replace("_", " ")),
                       latin1(change["action"]), latin1(change["reason"]),
                       change["tx_id"][:TX_SHOWN_CHARS] + "..."])
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Signature", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 8)
    for line in (
            f"Node key (Ed25519): {signed['node_key']}",
            f"Signature over b\"consortia/cfp-certificate/v1\" || canonical JSON of the "
            f"document: {signed['signature']}",
            f"Signed tree head: height {sth['height']}, {sth['tree_size']} leaves, root "
            f"{sth['root_hash']}",
            "Verify: fetch the signed JSON (certificate.json) and check it with the node key; "
            "the issuing transaction's receipt proves the issue."):
        pdf.multi_cell(0, 4.5, latin1(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if page_url:
        pdf.multi_cell(0, 4.5, latin1(f"Online: {page_url}"), new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("Helvetica", "I", 7)
    pdf.multi_cell(0, 4, "Characters outside Latin-1 (Chinese names, for instance) are shown "
                   "as ?; the web page and the signed JSON carry the exact text.",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    out = bytes(pdf.output())
    assert out.startswith(b"%PDF") and len(out) <= PDF_BYTES_MAX, len(out)
    return out
