"""The CFP mark: a QR code the holder prints next to its logo, signed by the certification body.

The issuing body signs ``b"consortia/cfp-mark/v1" ‖ canonical_json({"number", "vendor",
"body_key"})`` with its member key and publishes the signature (``certification.publish_mark``).
The QR code holds a URL, so a phone's camera opens the check page of whichever node printed it:

    {base_url}/cfp/mark/{number}?s={signature as base64url, no padding}

Any node answers for any mark: ``parse_mark`` ignores the scheme and host, and ``check_mark``
says whether the mark is genuine (signed by the issuing body and published by it; a mark the body
later replaced is still genuine but *superseded*) and whether the certificate is usable now.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from consortia.crypto.hashing import canonical_json
from consortia.crypto.keys import SIGNATURE_BYTES, SigningKey, verify
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.ledger.state import Reader
from consortia.modules.certification.logic import certificate_of, effective_status
from consortia.modules.certification.types import (
    USABLE,
    Mark,
    mark_key,
    mark_signature_key,
)
from consortia.modules.governance.types import Member, member_key

MARK_DOMAIN = b"consortia/cfp-mark/v1"
MARK_PATH = "/cfp/mark/"
# A payload is a short URL (about 150 characters on a typical host); anything far longer is
# not a mark, and bounding it bounds the work a scan costs.
PAYLOAD_CHARS_MAX = 512
SIGNATURE_B64_CHARS = 86  # 64 bytes as unpadded base64url

_NUMBER = re.compile(r"CFP-[0-9]{4}-[0-9]{6}")
_PATH = re.compile(r".*/cfp/mark/(CFP-[0-9]{4}-[0-9]{6})")
_B64URL = re.compile(r"[A-Za-z0-9_-]{86}")


class MarkError(ValueError):
    """A payload that is not a CFP mark; the message says what is wrong in one line."""


class ParsedMark(msgspec.Struct, frozen=True):
    number: str
    signature: str  # hex


class MarkCheck(msgspec.Struct, frozen=True):
    """What scanning a mark shows: genuine or not, and the certificate's status now."""

    number: str
    genuine: bool  # signed by the issuing body with its key and published by it
    superseded: bool  # genuine, but the body has published another mark since
    status: str | None  # the certificate's effective status at time_ms; None if unknown
    usable: bool  # the certificate is usable at time_ms
    valid: bool  # genuine and usable: the mark may be relied on now
    reason: str  # the verdict in plain words
    time_ms: int
    body: str = ""
    body_key: str = ""
    vendor: str = ""
    holder_name: str = ""
    product_type: str = ""
    product_name: str = ""
    model: str = ""
    expires_ms: int = 0
    published_ms: int = 0  # of the published mark (the current one)
    mark_tx: str = ""  # tx id that published the current mark


# -- signing ------------------------------------------------------------------------------------

def mark_message(number: str, vendor: str, body_key: str) -> bytes:
    """The bytes the body signs: ``b"consortia/cfp-mark/v1" ‖ canonical_json({number, vendor,
    body_key})``; the domain keeps a mark signature from being taken for anything else."""
    return MARK_DOMAIN + canonical_json({"number": number, "vendor": vendor,
                                         "body_key": body_key})


def sign_mark(body: SigningKey, number: str, vendor: str) -> str:
    """The body's mark signature for certificate ``number`` of ``vendor`` (hex)."""
    return body.sign(mark_message(number, vendor, body.public_key_hex)).hex()


def verify_mark_signature(number: str, vendor: str, body_key: str, signature: str) -> bool:
    """Whether ``signature`` (hex) is the key ``body_key``'s mark signature; never raises."""
    try:
        public, raw = bytes.fromhex(body_key), bytes.fromhex(signature)
    except ValueError:
        return False
    return verify(public, mark_message(number, vendor, body_key), raw)


# -- the payload --------------------------------------------------------------------------------

def mark_payload(base_url: str, number: str, signature: str) -> str:
    """The URL the QR code holds: ``{base_url}/cfp/mark/{number}?s={base64url signature}``."""
    assert _NUMBER.fullmatch(number), number
    raw = bytes.fromhex(signature)
    assert len(raw) == SIGNATURE_BYTES, signature
    encoded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return f"{base_url.rstrip('/')}{MARK_PATH}{number}?s={encoded}"


def parse_mark(payload: str) -> ParsedMark:
    """The certificate number and signature a mark carries, whatever its scheme and host;
    MarkError saying what is wrong otherwise."""
    text = payload.strip()
    if not text or len(text) > PAYLOAD_CHARS_MAX:
        raise MarkError(f"a mark is a URL of 1 to {PAYLOAD_CHARS_MAX} characters")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise MarkError("the mark is not a URL") from None
    found = _PATH.fullmatch(parts.path)
    if found is None:
        raise MarkError("not a CFP mark: its URL must end in /cfp/mark/CFP-<yyyy>-<nnnnnn>"
                        "?s=<signature>")
    values = parse_qs(parts.query, keep_blank_values=True).get("s", [])
    if len(values) != 1 or not _B64URL.fullmatch(values[0]):
        raise MarkError(f"the mark's signature (s=) must be {SIGNATURE_B64_CHARS} base64url "
                        "characters")
    raw = base64.urlsafe_b64decode(values[0] + "==")
    # 86 characters carry 516 bits; the last 4 must be zero for one signature per mark text.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != values[0]:
        raise MarkError("the mark's signature (s=) is not canonical base64url")
    return ParsedMark(found.group(1), raw.hex())


# -- checking -----------------------------------------------------------------------------------

def _not_genuine(number: str, time_ms: int, reason: str) -> MarkCheck:
    return MarkCheck(number=number, genuine=False, superseded=False, status=None,
                     usable=False, valid=False, reason=reason, time_ms=time_ms)


def check_mark(source: Reader, payload: str, time_ms: int) -> MarkCheck:
    """Is the mark ``payload`` genuine, and is its certificate usable at ``time_ms``?

    Genuine: the signature verifies with the member key of the body that issued the
    certificate, and the body published it (``certification.publish_mark``). A genuine mark
    the body has since replaced is ``superseded`` (still genuine: the body did sign it).
    Raises MarkError when ``payload`` is not a mark at all.
    """
    parsed = parse_mark(payload)
    number = parsed.number
    cert = certificate_of(source, number)
    if cert is None or cert.number != number:
        return _not_genuine(number, time_ms, f"no certificate {number} in the registry: this "
                            "mark is not genuine")
    body = source.get(member_key(cert.body), Member)
    assert body is not None, cert.body
    status = effective_status(cert, time_ms)
    usable = status in USABLE
    signed = verify_mark_signature(number, cert.vendor, body.key, parsed.signature)
    published = source.has(mark_signature_key(number, parsed.signature))
    current = source.get(mark_key(number), Mark)
    genuine = signed and published
    superseded = genuine and current is not None and current.signature != parsed.signature
    if not signed:
        reason = (f"not signed by {cert.body}, the body that issued {number}: this mark is "
                  "forged")
    elif not published:
        reason = (f"signed by {cert.body} but never published for {number}: not a genuine "
                  "mark")
    elif usable:
        reason = f"genuine mark of {number}; the certificate is {status}"
    else:
        reason = f"genuine mark of {number}, but the certificate is {status}: do not rely on it"
    if superseded:
        reason += f" (superseded: {cert.body} has published a newer mark)"
    return MarkCheck(
        number=number, genuine=genuine, superseded=superseded, status=status, usable=usable,
        valid=genuine and usable, reason=reason, time_ms=time_ms, body=cert.body,
        body_key=body.key, vendor=cert.vendor, holder_name=cert.holder_name,
        product_type=cert.product_type, product_name=cert.product_name, model=cert.model,
        expires_ms=cert.expires_ms,
        published_ms=0 if current is None else current.published_ms,
        mark_tx="" if current is None else current.tx_id)


# -- the proof of a check, offline --------------------------------------------------------------

PUBLISH_KIND = "certification.publish_mark"


def _receipt_of(receipt: Any, node_key: bytes, what: str) -> dict[str, Any]:
    """A verified, accepted receipt's result; MarkError otherwise."""
    try:
        verify_receipt(receipt, node_key)
    except ReceiptError as exc:
        raise MarkError(f"the {what} receipt does not verify: {exc}") from None
    result: dict[str, Any] = receipt["result"]
    if result.get("status") != "accepted":
        raise MarkError(f"the {what} tx was not accepted")
    return result


def verify_mark_answer(answer: Any, payload: str, node_key: bytes) -> None:
    """Check a node's answer to ``GET /v1/certification/marks/check?payload=…`` offline,
    against the node's key alone; raise MarkError saying what failed.

    A genuine answer must carry the receipt of the ``publish_mark`` tx whose result names this
    certificate and this signature, and the signature must verify with the body key the answer
    names. The status must come with the receipt of the transition in effect at the answer's
    time (``valid-at``), whose result gives that transition's status.
    """
    parsed = parse_mark(payload)
    if not isinstance(answer, dict) or answer.get("number") != parsed.number:
        raise MarkError("the answer is not about this mark's certificate")
    proof = answer.get("proof")
    if not isinstance(proof, dict):
        raise MarkError("the answer carries no proof")
    if answer.get("genuine"):
        if not verify_mark_signature(parsed.number, str(answer.get("vendor", "")),
                                     str(answer.get("body_key", "")), parsed.signature):
            raise MarkError("the mark's signature does not verify with the body key named")
        result = _receipt_of(proof.get("publication"), node_key, "publication")
        data = result.get("data", {})
        if (result.get("kind") != PUBLISH_KIND or data.get("certificate") != parsed.number
                or data.get("mark") != parsed.signature):
            raise MarkError("the publication receipt is not this mark's")
    if answer.get("status") is None:
        return
    valid_at = proof.get("valid_at")
    if not isinstance(valid_at, dict) or not isinstance(valid_at.get("transition"), dict):
        raise MarkError("the answer's status comes without the transition in effect")
    transition, receipt = valid_at["transition"], valid_at.get("receipt")
    if not isinstance(receipt, dict) or receipt.get("tx_id") != transition.get("tx_id"):
        raise MarkError("the status receipt is not the transition's tx")
    result = _receipt_of(receipt, node_key, "status")
    if result.get("data", {}).get("status") not in (None, transition.get("to")):
        raise MarkError("the status receipt does not give the transition's status")
    if valid_at.get("status") != answer.get("status"):
        raise MarkError("the answer's status is not the one its proof gives")
