"""Consumer-presented mode (CPM): the wallet shows the code, the merchant's terminal scans it.

The code is the base64 of BER-TLV bytes: tag 85 "CPV01" first, then one or two application
templates (61) and an optional common data template (62). Inside 61: 4F application id,
57 track-2 equivalent or 5A account number, optional 50 label, 5F20 cardholder name, 9F25 last
four digits, and 63 a transparent template of issuer data (9F26 cryptogram, 9F36 counter);
62 carries data common to the applications and may hold a transparent template 64.

In Consortia the code is a single-use, short-lived payment token: the cryptogram (9F26) is the
wallet device key's signature and the counter (9F36) the token's sequence number. What is
signed is the payments module's business; this codec only carries the bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from consortia.qr import ber
from consortia.qr.ber import BerObject
from consortia.qr.errors import QrError
from consortia.qr.types import CpmApplication, Decoded

__all__ = ["CpmApplication", "decode_cpm", "encode_cpm"]

# A CPM code is base64, so a QR code holds it in byte mode: at most 2953 characters.
PAYLOAD_CHARS_MAX = 2953
PAYLOAD_FORMAT = b"CPV01"
APPLICATIONS_MAX = 2
AID_BYTES = range(5, 17)
PAN_DIGITS = range(8, 20)
TRACK2_CHARS_MAX = 37
LABEL_CHARS_MAX = 16
NAME_CHARS = range(2, 27)
ISSUER_VALUE_BYTES_MAX = 255
TOP_TAGS = frozenset(("85", "61", "62"))

Say = Callable[[str], None]  # appends one warning line
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_TRACK2 = re.compile(r"[0-9]{1,19}D[0-9]{0,20}")


# --- decoding -------------------------------------------------------------------------------


def decode_cpm(payload: str, *, strict: bool = False) -> Decoded:
    """Read a consumer-presented code.

    Raises QrError when the code is corrupt: not base64, BER-TLV that does not parse (a length
    past the end, a tag cut short, a duplicate tag), over 2953 characters. Every other EMVCo
    rule it breaks is a warning, or a QrError under ``strict``.
    """
    if not isinstance(payload, str):
        raise QrError(f"a CPM payload is text, not {type(payload).__name__}")
    if not payload:
        raise QrError("the payload is empty")
    if len(payload) > PAYLOAD_CHARS_MAX:
        raise QrError(f"the payload has {len(payload)} characters, more than a QR code "
                      f"holds in byte mode ({PAYLOAD_CHARS_MAX})")
    warnings: list[str] = []
    data = _unbase64(payload, warnings.append)
    top = ber.parse(data, repeatable=frozenset(("61",)))
    objects = _tree(top, top_level=True)
    applications = _check_rules(top, warnings.append)
    if strict and warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise QrError(f"breaks an EMVCo rule: {warnings[0]}{more}")
    format_indicator = next((obj.value for obj in top if obj.tag == "85"), None)
    return Decoded(mode="cpm", objects=objects, warnings=warnings,
                   payload_format=None if format_indicator is None
                   else format_indicator.decode("latin-1"),
                   applications=applications)


def _unbase64(payload: str, say: Say) -> bytes:
    if not payload.isascii() or not _BASE64.fullmatch(payload):
        raise QrError("not base64: a CPM code has only A–Z, a–z, 0–9, '+', '/' and '=' "
                      "padding at the end")
    if len(payload) % 4:
        if len(payload) % 4 == 1 or "=" in payload:
            raise QrError(f"not base64: {len(payload)} characters cannot be base64")
        say("the base64 padding ('=') is missing")
        payload += "=" * (-len(payload) % 4)
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise QrError(f"not base64: {exc}") from None
    if not data:
        raise QrError("the payload holds no bytes")
    return data


def _tree(objects: list[BerObject] | tuple[BerObject, ...], *,
          top_level: bool = False) -> dict[str, object]:
    """Tag → value hex, or the object of a template; at the top, 61 → list of templates."""
    tree: dict[str, object] = {}
    for obj in objects:
        value: object = obj.value.hex().upper() if obj.children is None else _tree(obj.children)
        if top_level and obj.tag == "61":
            applications = tree.setdefault("61", [])
            assert isinstance(applications, list)
            applications.append(value)
        else:
            tree[obj.tag] = value
    return tree


def _check_rules(top: list[BerObject], say: Say) -> tuple[CpmApplication, ...]:
    """Append one line per rule the code breaks; return its applications."""
    if not top or top[0].tag != "85":
        say("the payload format indicator (tag 85) is not the first object"
            if any(obj.tag == "85" for obj in top) else
            "the payload format indicator (tag 85) is missing")
    for obj in top:
        if obj.tag == "85" and obj.value != PAYLOAD_FORMAT:
            say(f"tag 85 (payload format indicator) is {obj.value!r}, not b'CPV01'")
        elif obj.tag not in TOP_TAGS:
            say(f"tag {obj.tag} is not defined at the top level of a CPM code "
                "(85, 61, 62)")
    templates = [obj for obj in top if obj.tag == "61"]
    if not templates:
        say("there is no application template (tag 61)")
    elif len(templates) > APPLICATIONS_MAX:
        say(f"there are {len(templates)} application templates (tag 61), more than "
            f"{APPLICATIONS_MAX}")
    common = next((obj for obj in top if obj.tag == "62"), None)
    return tuple(_application(template, common, index, say)
                 for index, template in enumerate(templates, 1))


def _fields(template: BerObject | None) -> dict[str, BerObject]:
    return {} if template is None or template.children is None else {
        child.tag: child for child in template.children}


def _application(template: BerObject, common: BerObject | None, index: int,
                 say: Say) -> CpmApplication:
    """One application, its missing fields taken from the common data template (62/64)."""
    own = _fields(template)
    shared = _fields(common)
    where = f"application template {index}"
    fields = shared | own
    transparent = _fields(shared.get("64")) | _fields(own.get("63"))
    aid = own.get("4F")
    if aid is None:
        say(f"{where} has no application identifier (tag 4F)")
    elif len(aid.value) not in AID_BYTES:
        say(f"{where}: the application identifier (4F) has {len(aid.value)} bytes, not 5–16")
    if "5A" not in fields and "57" not in fields:
        say(f"{where} has neither a track-2 equivalent (57) nor an account number (5A)")
    pan = _digits_field(fields.get("5A"), f"{where}: the account number (5A)", say)
    if pan is not None and len(pan) not in PAN_DIGITS:
        say(f"{where}: the account number (5A) has {len(pan)} digits, not 8–19")
    track2 = None
    if "57" in fields:
        track2 = fields["57"].value.hex().upper().removesuffix("F")
        if len(track2) > TRACK2_CHARS_MAX or not _TRACK2.fullmatch(track2):
            say(f"{where}: the track-2 equivalent (57) is not digits, 'D', digits")
    label = _text_field(fields.get("50"), range(1, LABEL_CHARS_MAX + 1),
                        f"{where}: the label (50)", say)
    name = _text_field(fields.get("5F20"), NAME_CHARS, f"{where}: the cardholder name (5F20)",
                       say)
    last4 = _digits_field(fields.get("9F25"), f"{where}: the last 4 digits (9F25)", say)
    if last4 is not None and len(last4) != 4:
        say(f"{where}: 9F25 has {len(last4)} digits, not 4")
    atc_field = transparent.get("9F36")
    atc = None
    if atc_field is not None:
        if len(atc_field.value) == 2:
            atc = int.from_bytes(atc_field.value, "big")
        else:
            say(f"{where}: the transaction counter (9F36) has {len(atc_field.value)} bytes, "
                "not 2")
    cryptogram = transparent.get("9F26")
    issuer_data = tuple((tag, obj.value) for tag, obj in transparent.items()
                        if tag not in ("9F26", "9F36") and obj.children is None)
    return CpmApplication(
        aid="" if aid is None else aid.value.hex().upper(), pan=pan, track2=track2,
        label=label, cardholder_name=name, last4=last4,
        cryptogram=None if cryptogram is None else cryptogram.value, atc=atc,
        issuer_data=issuer_data)


def _digits_field(obj: BerObject | None, what: str, say: Say) -> str | None:
    """Compressed numeric (BCD, padded with one F): the digits, or the hex if it is not."""
    if obj is None:
        return None
    text = obj.value.hex().upper()
    digits = text.removesuffix("F")
    if not digits.isdigit():
        say(f"{what} is not BCD digits")
        return text
    return digits


def _text_field(obj: BerObject | None, chars: range, what: str, say: Say) -> str | None:
    if obj is None:
        return None
    text = obj.value.decode("latin-1")  # EMV "ans" is ASCII; latin-1 never fails to decode
    if len(text) not in chars:
        say(f"{what} has {len(text)} characters, not {chars.start}–{chars.stop - 1}")
    elif not all(" " <= ch <= "~" for ch in text):
        say(f"{what} has characters outside the EMVCo common character set")
    return text


# --- encoding -------------------------------------------------------------------------------


def encode_cpm(*applications: CpmApplication) -> str:
    """The CPM payload (base64 text) of one or two applications: 85 "CPV01", then one
    application template (61) each, with its issuer data in a transparent template (63).

    Raises ValueError, naming the field, when a field breaks an EMVCo rule.
    """
    if not 1 <= len(applications) <= APPLICATIONS_MAX:
        raise ValueError(f"a CPM code has 1 to {APPLICATIONS_MAX} applications, "
                         f"not {len(applications)}")
    data = ber.encode("85", PAYLOAD_FORMAT)
    for app in applications:
        data += ber.encode("61", _application_bytes(app))
    payload = base64.b64encode(data).decode("ascii")
    if len(payload) > PAYLOAD_CHARS_MAX:
        raise ValueError(f"the code would have {len(payload)} characters, more than a QR "
                         f"code holds ({PAYLOAD_CHARS_MAX})")
    return payload


def _application_bytes(app: CpmApplication) -> bytes:
    try:
        aid = bytes.fromhex(app.aid)
    except (TypeError, ValueError):
        raise ValueError(f"aid {app.aid!r} is not hex") from None
    if len(aid) not in AID_BYTES:
        raise ValueError(f"aid has {len(aid)} bytes, not 5–16")
    if app.pan is None and app.track2 is None:
        raise ValueError("an application needs a pan (5A) or a track2 (57)")
    out = ber.encode("4F", aid)
    if app.label is not None:
        out += ber.encode("50", _ascii("label", app.label, range(1, LABEL_CHARS_MAX + 1)))
    if app.track2 is not None:
        if not (isinstance(app.track2, str) and len(app.track2) <= TRACK2_CHARS_MAX
                and _TRACK2.fullmatch(app.track2)):
            raise ValueError("track2 must be up to 37 characters: digits, 'D', digits")
        out += ber.encode("57", _bcd(app.track2))
    if app.pan is not None:
        if not (isinstance(app.pan, str) and app.pan.isascii() and app.pan.isdigit()
                and len(app.pan) in PAN_DIGITS):
            raise ValueError("pan must be 8 to 19 digits")
        out += ber.encode("5A", _bcd(app.pan))
    if app.cardholder_name is not None:
        out += ber.encode("5F20", _ascii("cardholder_name", app.cardholder_name, NAME_CHARS))
    if app.last4 is not None:
        if not (isinstance(app.last4, str) and len(app.last4) == 4 and app.last4.isascii()
                and app.last4.isdigit()):
            raise ValueError("last4 must be 4 digits")
        out += ber.encode("9F25", _bcd(app.last4))
    transparent = b""
    if app.cryptogram is not None:
        if not isinstance(app.cryptogram, bytes) or not 1 <= len(app.cryptogram) <= 255:
            raise ValueError("cryptogram must be 1 to 255 bytes")
        transparent += ber.encode("9F26", app.cryptogram)
    if app.atc is not None:
        if not isinstance(app.atc, int) or not 0 <= app.atc <= 0xFFFF:
            raise ValueError("atc must be an integer from 0 to 65535")
        transparent += ber.encode("9F36", app.atc.to_bytes(2, "big"))
    seen = {"9F26", "9F36"}
    for tag, value in app.issuer_data:
        tag = tag.upper()
        if not _hex(tag) or tag in seen or ber.is_constructed(tag):
            raise ValueError(f"issuer_data tag {tag!r} is repeated, constructed or not hex")
        if not isinstance(value, bytes) or len(value) > ISSUER_VALUE_BYTES_MAX:
            raise ValueError(f"issuer_data {tag}: a value is up to "
                             f"{ISSUER_VALUE_BYTES_MAX} bytes")
        seen.add(tag)
        transparent += ber.encode(tag, value)
    if transparent:
        out += ber.encode("63", transparent)
    return out


def _hex(text: str) -> bool:
    return bool(text) and len(text) % 2 == 0 and all(ch in "0123456789ABCDEF" for ch in text)


def _ascii(field: str, value: str, chars: range) -> bytes:
    if not isinstance(value, str) or len(value) not in chars or not all(
            " " <= ch <= "~" for ch in value):
        raise ValueError(f"{field} must be {chars.start} to {chars.stop - 1} printable ASCII "
                         "characters")
    return value.encode("ascii")


def _bcd(digits: str) -> bytes:
    """Compressed numeric: two digits a byte, padded with F."""
    return bytes.fromhex(digits + "F" * (len(digits) % 2))
