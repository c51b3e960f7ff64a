"""Merchant-presented mode (MPM): the merchant shows the code, the wallet scans it.

``decode_mpm`` is strict about corruption (QrError) and lenient about the EMVCo rules that real
codes in circulation break with a correct CRC: each broken rule becomes one line in
``Decoded.warnings``, and ``strict=True`` turns the first of them into a QrError.
``encode_mpm`` writes only codes that the strict decoder accepts (given an account).
The rules are those of ../shared/docs/emv-qr.md; docs/qr.md lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

from consortia.qr.crc import crc_hex
from consortia.qr.errors import QrError
from consortia.qr.tlv import HEADER_CHARS, DataObject, format_object, split_objects
from consortia.qr.types import Decoded, MerchantCode

__all__ = ["CONSORTIA_GUID", "MerchantCode", "decode_mpm", "encode_mpm", "merchant_code"]

# EMVCo asks codes to stay within 512 characters but real ones exceed it (a warning); nothing
# longer than the largest QR code (version 40-L, alphanumeric mode) can have been scanned.
PAYLOAD_CHARS_SPEC = 512
PAYLOAD_CHARS_MAX = 4296
CRC_TAIL = "6304"
GUID_CHARS_MAX = 32
# Consortia's payment-system template inside 62 (sub-IDs 50–99 belong to payment systems):
# 62.50 = {00: CONSORTIA_GUID, 01: order expiry, ms since the Unix epoch}.
CONSORTIA_GUID = "ORG.CONSORTIA"
CONSORTIA_SUB_ID = "50"
EXPIRES_DIGITS_MAX = 15

ACCOUNT_TEMPLATE_IDS = frozenset(f"{i:02d}" for i in range(26, 52))
UNRESERVED_TEMPLATE_IDS = frozenset(f"{i:02d}" for i in range(80, 100))
TEMPLATE_IDS = ACCOUNT_TEMPLATE_IDS | UNRESERVED_TEMPLATE_IDS | {"62", "64"}
ADDITIONAL_TEMPLATE_IDS = frozenset(f"{i:02d}" for i in range(50, 100))  # inside 62
RESERVED_IDS = frozenset(f"{i:02d}" for i in range(65, 80))
ACCOUNT_IDS = frozenset(f"{i:02d}" for i in range(2, 52))
INITIATION = frozenset(("11", "12"))

# Maximum lengths EMVCo sets below the TLV's own 99.
TOP_CHARS_MAX = {"59": 25, "60": 15, "61": 10}
ADDITIONAL_CHARS_MAX = {f"{i:02d}": 25 for i in range(1, 9)} | {"10": 20}
NAMES = {"00": "payload format indicator", "01": "point of initiation", "52": "MCC",
         "53": "currency", "54": "amount", "55": "tip indicator", "56": "convenience fee",
         "57": "convenience fee percentage", "58": "country", "59": "merchant name",
         "60": "merchant city", "61": "postal code", "62": "additional data",
         "63": "CRC", "64": "merchant information in another language"}

_AMOUNT = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")
_PERCENT = re.compile(r"[0-9]{1,2}(\.[0-9]{1,2})?")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")

Say = Callable[[str], None]  # appends one warning line


def _name(object_id: str) -> str:
    known = NAMES.get(object_id)
    return f"ID {object_id} ({known})" if known else f"ID {object_id}"


def _digits(value: str, count: int) -> bool:
    return len(value) == count and value.isascii() and value.isdigit()


def _common_charset(value: str) -> bool:
    """EMVCo "ans": the common character set, printable ASCII."""
    return all(" " <= ch <= "~" for ch in value)


def amount_problem(value: str) -> str | None:
    """Why ``value`` is not an EMVCo amount (ID 54, 56), or None when it is one: at most 13
    characters, digits and at most one ".", not zero ("98", "98." and "98.73" are amounts)."""
    if len(value) > 13:
        return f"{value!r} is longer than 13 characters"
    if not _AMOUNT.fullmatch(value):
        return f"{value!r} is not digits with at most one '.'"
    if Decimal(value) == 0:
        return f"{value!r} is zero"
    return None


# --- decoding -------------------------------------------------------------------------------


def decode_mpm(payload: str, *, strict: bool = False) -> Decoded:
    """Read a merchant-presented code.

    Raises QrError when the code is corrupt: wrong or missing CRC, CRC not last, a length past
    the end, a zero length, a duplicate ID, a non-digit ID or length, over 4296 characters.
    Every other EMVCo rule it breaks is a warning, or a QrError under ``strict``.
    """
    if not isinstance(payload, str):
        raise QrError(f"an MPM payload is text, not {type(payload).__name__}")
    if not payload:
        raise QrError("the payload is empty")
    if len(payload) > PAYLOAD_CHARS_MAX:
        raise QrError(f"the payload has {len(payload)} characters, more than any QR code "
                      f"holds ({PAYLOAD_CHARS_MAX})")
    try:
        payload.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QrError(f"the payload is not Unicode text (character {exc.start} is a lone "
                      "surrogate)") from None
    warnings: list[str] = []
    tail_is_crc = len(payload) >= 8 and payload[-8:-4] == CRC_TAIL
    if tail_is_crc:  # check it first: on a corrupted code it is the most telling message
        _check_crc(payload, warnings)
    top = split_objects(payload)
    _check_crc_position(payload, top)
    assert tail_is_crc  # 63 is last with length 04, so the CRC was checked above
    objects = {obj.id: _tree(obj, warnings.append) for obj in top}
    values = {obj.id: obj.value for obj in top}
    _check_rules(top, objects, warnings)
    if len(payload) > PAYLOAD_CHARS_SPEC:
        warnings.append(f"the payload has {len(payload)} characters, more than EMVCo's "
                        f"{PAYLOAD_CHARS_SPEC}")
    if strict and warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise QrError(f"breaks an EMVCo rule: {warnings[0]}{more}")
    initiation = values.get("01")
    return Decoded(
        mode="mpm", objects=objects, warnings=warnings,
        merchant_name=values.get("59"), merchant_city=values.get("60"),
        country=values.get("58"), currency=values.get("53"), amount=values.get("54"),
        mcc=values.get("52"),
        initiation="static" if initiation == "11" else "dynamic" if initiation == "12" else None,
        crc=values["63"])


def _check_crc(payload: str, warnings: list[str]) -> None:
    given = payload[-4:]
    if not _HEX4.fullmatch(given):
        raise QrError(f"the CRC {given!r} is not 4 hex digits")
    computed = crc_hex(payload[:-4])
    if given.upper() != computed:
        raise QrError(f"CRC mismatch: the code says {given}, its content gives {computed}")
    if given != given.upper():
        warnings.append(f"the CRC {given!r} is in lower case")


def _check_crc_position(payload: str, top: list[DataObject]) -> None:
    crcs = [obj for obj in top if obj.id == "63"]
    if not crcs:
        raise QrError("there is no CRC (ID 63)")
    crc = crcs[0]
    if crc is not top[-1]:
        raise QrError(f"the CRC (ID 63, at character {crc.at}) is not the last object")
    if len(crc.value) != 4:
        raise QrError(f"the CRC (ID 63) has length {len(crc.value):02d}, not 04")
    assert crc.at == len(payload) - 8


def _tree(obj: DataObject, say: Say) -> str | dict[str, object]:
    """The object's value, or for a template the object of its sub-IDs (62's 50–99 nest).

    The CRC has vouched for every character, so a template whose value does not split into
    data objects is how its issuer wrote it (DuitNow's 82 carries a bare signature), not
    corruption: it stays a string and the broken rule is a warning.
    """
    if obj.id not in TEMPLATE_IDS:
        return obj.value
    subs = _split_template(obj, f"template {obj.id}", say)
    if subs is None:
        return obj.value
    tree: dict[str, object] = {}
    for sub in subs:
        nested = None
        if obj.id == "62" and sub.id in ADDITIONAL_TEMPLATE_IDS:
            nested = _split_template(sub, f"template 62.{sub.id}", say)
        tree[sub.id] = sub.value if nested is None else {n.id: n.value for n in nested}
    return tree


def _split_template(obj: DataObject, where: str, say: Say) -> list[DataObject] | None:
    try:
        return split_objects(obj.value, offset=obj.at + HEADER_CHARS, where=where)
    except QrError as exc:
        say(f"{where} is not made of data objects: {exc}")
        return None


def _check_rules(top: list[DataObject], objects: Mapping[str, object],
                 warnings: list[str]) -> None:
    """Append one line per EMVCo rule the code breaks."""
    say = warnings.append
    values = {obj.id: obj.value for obj in top}
    if "00" not in values:
        say("the payload format indicator (ID 00) is missing")
    elif top[0].id != "00":
        say("the payload format indicator (ID 00) is not the first object")
    if values.get("00", "01") != "01":
        say(f"ID 00 (payload format indicator) is {values['00']!r}, not '01'")
    if "01" not in values:
        say("the point of initiation (ID 01) is missing: static or dynamic is unknown")
    elif values["01"] not in INITIATION:
        say(f"ID 01 (point of initiation) is {values['01']!r}, not '11' or '12'")
    if not ACCOUNT_IDS & values.keys():
        say("there is no merchant account information (IDs 02–51)")
    for object_id, count in (("52", 4), ("53", 3)):
        if object_id not in values:
            say(f"{_name(object_id)} is missing")
        elif not _digits(values[object_id], count):
            say(f"{_name(object_id)} {values[object_id]!r} is not {count} digits")
    for object_id in ("54", "56"):
        if object_id in values and (problem := amount_problem(values[object_id])):
            say(f"{_name(object_id)} {problem}")
    _check_tip(values, say)
    if "58" not in values:
        say(f"{_name('58')} is missing")
    elif not re.fullmatch(r"[A-Z]{2}", values["58"]):
        say(f"ID 58 (country) {values['58']!r} is not 2 upper-case letters (ISO 3166)")
    for object_id in ("59", "60"):
        if object_id not in values:
            say(f"{_name(object_id)} is missing")
    for object_id, chars_max in TOP_CHARS_MAX.items():
        if len(values.get(object_id, "")) > chars_max:
            say(f"{_name(object_id)} has {len(values[object_id])} characters, more than "
                f"{chars_max}")
    for obj in top:
        value = objects[obj.id]
        if obj.id in RESERVED_IDS:
            say(f"ID {obj.id} is reserved for future use by EMVCo")
        if isinstance(value, dict):
            _check_template(obj.id, value, say)
        elif obj.id in TEMPLATE_IDS:
            continue  # not made of data objects: already reported
        elif obj.id != "63" and not _common_charset(obj.value):
            say(f"{_name(obj.id)} has characters outside the EMVCo common character set "
                "(printable ASCII)")


def _check_tip(values: dict[str, str], say: Say) -> None:
    tip = values.get("55")
    if tip is not None and tip not in ("01", "02", "03"):
        say(f"ID 55 (tip indicator) is {tip!r}, not '01', '02' or '03'")
    if tip == "02" and "56" not in values:
        say("ID 55 is '02' (fixed convenience fee) but ID 56 is missing")
    if tip == "03" and "57" not in values:
        say("ID 55 is '03' (percentage convenience fee) but ID 57 is missing")
    if "56" in values and tip != "02":
        say("ID 56 (convenience fee) is present but ID 55 is not '02'")
    if "57" in values and tip != "03":
        say("ID 57 (convenience fee percentage) is present but ID 55 is not '03'")
    percent = values.get("57")
    if percent is not None and not (_PERCENT.fullmatch(percent)
                                    and 0 < Decimal(percent) < 100):
        say(f"ID 57 (convenience fee percentage) {percent!r} is not between '00.01' and "
            "'99.99'")


def _check_template(object_id: str, subs: dict[str, object], say: Say) -> None:
    where = f"template {object_id}"
    if object_id == "64":
        _check_language_template(subs, say)
        return
    if object_id == "62":
        _check_additional_data(subs, say)
    elif "00" not in subs:
        say(f"{where} has no globally unique identifier (sub-ID 00)")
    elif len(str(subs["00"])) > GUID_CHARS_MAX:
        say(f"{where}: the globally unique identifier (sub-ID 00) has more than "
            f"{GUID_CHARS_MAX} characters")
    for sub_id, value in subs.items():
        texts = value.values() if isinstance(value, dict) else [value]
        if not all(_common_charset(str(text)) for text in texts):
            say(f"{where}, sub-ID {sub_id} has characters outside the EMVCo common "
                "character set (printable ASCII)")


def _check_additional_data(subs: dict[str, object], say: Say) -> None:
    for sub_id, value in subs.items():
        if isinstance(value, dict):  # 50–99, a payment system's template
            if "00" not in value:
                say(f"template 62.{sub_id} has no globally unique identifier (sub-ID 00)")
            elif value["00"] == CONSORTIA_GUID and not _digits_up_to(
                    str(value.get("01", "")), EXPIRES_DIGITS_MAX):
                say(f"template 62.{sub_id} (Consortia): the expiry (sub-ID 01) is not "
                    f"1 to {EXPIRES_DIGITS_MAX} digits")
            continue
        if sub_id in ADDITIONAL_TEMPLATE_IDS:
            continue  # not TLV: already reported
        text = str(value)
        chars_max = ADDITIONAL_CHARS_MAX.get(sub_id)
        if chars_max is not None and len(text) > chars_max:
            say(f"template 62, sub-ID {sub_id} has {len(text)} characters, more than "
                f"{chars_max}")
        elif sub_id == "09" and not (len(set(text)) == len(text) and set(text) <= set("AME")):
            say(f"template 62, sub-ID 09 (consumer data request) {text!r} is not the letters "
                "A, M, E at most once each")
        elif sub_id == "11" and len(text) != 3:
            say(f"template 62, sub-ID 11 (merchant channel) {text!r} is not 3 characters")
        elif "12" <= sub_id <= "49":
            say(f"template 62, sub-ID {sub_id} is reserved for future use by EMVCo")


def _digits_up_to(value: str, digits_max: int) -> bool:
    return 1 <= len(value) <= digits_max and value.isascii() and value.isdigit()


def _check_language_template(subs: dict[str, object], say: Say) -> None:
    language = subs.get("00")
    if language is None:
        say("template 64 has no language (sub-ID 00)")
    elif not re.fullmatch(r"[A-Za-z]{2}", str(language)):
        say(f"template 64: the language {language!r} is not 2 letters (ISO 639)")
    if "01" not in subs:
        say("template 64 has no merchant name (sub-ID 01)")
    for sub_id, chars_max in (("01", 25), ("02", 15)):
        if len(str(subs.get(sub_id, ""))) > chars_max:
            say(f"template 64, sub-ID {sub_id} has more than {chars_max} characters")
    for sub_id in subs:
        if sub_id not in ("00", "01", "02"):
            say(f"template 64, sub-ID {sub_id} is reserved for future use by EMVCo")


def merchant_code(decoded: Decoded) -> MerchantCode:
    """The MerchantCode a decoded MPM code says (the inverse of encode_mpm).

    ``account`` is sub-IDs 00 and 01 of the first merchant account template (26–51) that has
    both. Raises QrError when the code is not MPM or lacks a field MerchantCode needs."""
    if decoded.mode != "mpm":
        raise QrError("not a merchant-presented code")
    needed = {"merchant name (59)": decoded.merchant_name,
              "merchant city (60)": decoded.merchant_city, "country (58)": decoded.country,
              "MCC (52)": decoded.mcc, "currency (53)": decoded.currency}
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise QrError(f"the code has no {', '.join(missing)}")
    objects = decoded.objects
    account = None
    for object_id in sorted(ACCOUNT_TEMPLATE_IDS & objects.keys()):
        template = objects[object_id]
        if isinstance(template, dict) and "00" in template and "01" in template:
            account = (str(template["00"]), str(template["01"]))
            break
    extra = objects.get("62", {})
    language = objects.get("64", {})
    if not isinstance(extra, dict):
        extra = {}
    if not isinstance(language, dict):
        language = {}
    return MerchantCode(
        merchant_name=str(decoded.merchant_name), merchant_city=str(decoded.merchant_city),
        country=str(decoded.country), mcc=str(decoded.mcc), currency=str(decoded.currency),
        amount=decoded.amount, account=account,
        bill_number=_text(extra.get("01")), reference_label=_text(extra.get("05")),
        terminal_label=_text(extra.get("07")), purpose=_text(extra.get("08")),
        postal_code=_text(objects.get("61")), expires_ms=_expires_ms(extra),
        alt_language=_text(language.get("00")), alt_name=_text(language.get("01")),
        alt_city=_text(language.get("02")))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _expires_ms(additional: dict[str, object]) -> int | None:
    for value in additional.values():
        if isinstance(value, dict) and value.get("00") == CONSORTIA_GUID:
            expires = str(value.get("01", ""))
            return int(expires) if _digits_up_to(expires, EXPIRES_DIGITS_MAX) else None
    return None


# --- encoding -------------------------------------------------------------------------------


def encode_mpm(code: MerchantCode) -> str:
    """The EMVCo MPM payload of ``code``: point of initiation 12 (dynamic) when it has an
    amount, else 11 (static); IDs in ascending order, CRC last.

    Raises ValueError, naming the field, when a field breaks an EMVCo rule.
    """
    _check_merchant_code(code)
    parts = [("00", "01"), ("01", "12" if code.amount is not None else "11")]
    if code.account is not None:
        parts.append(("26", _template(("00", code.account[0]), ("01", code.account[1]))))
    parts += [("52", code.mcc), ("53", code.currency)]
    if code.amount is not None:
        parts.append(("54", code.amount))
    parts += [("58", code.country), ("59", code.merchant_name), ("60", code.merchant_city)]
    if code.postal_code is not None:
        parts.append(("61", code.postal_code))
    additional = [(sub_id, value) for sub_id, value in (
        ("01", code.bill_number), ("05", code.reference_label), ("07", code.terminal_label),
        ("08", code.purpose)) if value is not None]
    if code.expires_ms is not None:
        additional.append((CONSORTIA_SUB_ID, _template(("00", CONSORTIA_GUID),
                                                       ("01", str(code.expires_ms)))))
    if additional:
        parts.append(("62", _template(*additional)))
    if code.alt_name is not None:
        language = [("00", str(code.alt_language)), ("01", code.alt_name)]
        if code.alt_city is not None:
            language.append(("02", code.alt_city))
        parts.append(("64", _template(*language)))
    body = _join(parts) + CRC_TAIL
    payload = body + crc_hex(body)
    assert len(payload) <= PAYLOAD_CHARS_SPEC, len(payload)  # the fields' maxima keep it so
    return payload


def _join(parts: Iterable[tuple[str, str]]) -> str:
    return "".join(format_object(object_id, value) for object_id, value in parts)


def _template(*parts: tuple[str, str]) -> str:
    value = _join(parts)
    if len(value) > 99:
        raise ValueError(f"the template of {', '.join(p for p, _ in parts)} would have "
                         f"{len(value)} characters, more than 99")
    return value


def _check_merchant_code(code: MerchantCode) -> None:
    def text(field: str, value: str | None, chars_max: int, *, ascii_only: bool = True,
             chars_min: int = 1, required: bool = False) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str) or not chars_min <= len(value) <= chars_max:
            raise ValueError(f"{field} must have {chars_min} to {chars_max} characters")
        if ascii_only and not _common_charset(value):
            raise ValueError(f"{field} must be printable ASCII (EMVCo's common character "
                             "set); a name in another script goes in alt_name")
        if not value.isprintable():
            raise ValueError(f"{field} has a character that cannot be printed")

    text("merchant_name", code.merchant_name, 25, required=True)
    text("merchant_city", code.merchant_city, 15, required=True)
    if not (isinstance(code.country, str) and re.fullmatch(r"[A-Z]{2}", code.country)):
        raise ValueError(f"country {code.country!r} is not 2 upper-case letters (ISO 3166)")
    if not (isinstance(code.mcc, str) and _digits(code.mcc, 4)):
        raise ValueError(f"mcc {code.mcc!r} is not 4 digits (ISO 18245)")
    if not (isinstance(code.currency, str) and _digits(code.currency, 3)):
        raise ValueError(f"currency {code.currency!r} is not 3 digits (ISO 4217 numeric)")
    if code.amount is not None:
        problem = amount_problem(code.amount) if isinstance(code.amount, str) else "not text"
        if problem:
            raise ValueError(f"amount {problem}")
    if code.account is not None:
        if not (isinstance(code.account, tuple) and len(code.account) == 2):
            raise ValueError("account is a pair (GUID, merchant account id)")
        guid, account_id = code.account
        text("account GUID", guid, GUID_CHARS_MAX, required=True)
        text("account id", account_id, 99, required=True)
    for field, value in (("bill_number", code.bill_number),
                         ("reference_label", code.reference_label),
                         ("terminal_label", code.terminal_label), ("purpose", code.purpose)):
        text(field, value, 25)
    text("postal_code", code.postal_code, 10)
    if code.expires_ms is not None and (
            not isinstance(code.expires_ms, int) or isinstance(code.expires_ms, bool)
            or not 0 <= code.expires_ms < 10**EXPIRES_DIGITS_MAX):
        raise ValueError(f"expires_ms must be an integer from 0 to "
                         f"{10**EXPIRES_DIGITS_MAX - 1}")
    if (code.alt_name is None) != (code.alt_language is None):
        raise ValueError("alt_name and alt_language go together (template 64)")
    if code.alt_city is not None and code.alt_name is None:
        raise ValueError("alt_city needs alt_name and alt_language (template 64)")
    if code.alt_language is not None and not re.fullmatch(r"[A-Za-z]{2}", code.alt_language):
        raise ValueError(f"alt_language {code.alt_language!r} is not 2 letters (ISO 639)")
    text("alt_name", code.alt_name, 25, ascii_only=False)
    text("alt_city", code.alt_city, 15, ascii_only=False)
