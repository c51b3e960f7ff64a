"""EMVCo QR codes, written and read by hand: merchant-presented (MPM) text with its CRC, and
consumer-presented (CPM) base64 of BER-TLV. See docs/qr.md."""

from __future__ import annotations

from consortia.qr.cpm import decode_cpm, encode_cpm
from consortia.qr.crc import crc16, crc_hex
from consortia.qr.errors import ImageError, QrError
from consortia.qr.mpm import CONSORTIA_GUID, decode_mpm, encode_mpm
from consortia.qr.types import CpmApplication, Decoded, MerchantCode

__all__ = ["CONSORTIA_GUID", "CpmApplication", "Decoded", "ImageError", "MerchantCode",
           "QrError", "crc16", "crc_hex", "decode", "decode_cpm", "decode_mpm", "encode_cpm",
           "encode_mpm"]

_DIGITS = frozenset("0123456789")


def decode(payload: str, *, strict: bool = False) -> Decoded:
    """Read an EMVCo code of either mode: MPM text starts with two digits ("000201"), CPM
    base64 with "hQVDUFYw" (tag 85 "CPV01"). Raises QrError when it is neither or unreadable;
    under ``strict`` also when it breaks an EMVCo rule."""
    if not isinstance(payload, str):
        raise QrError(f"a payload is text, not {type(payload).__name__}")
    if set(payload[:2]) <= _DIGITS and len(payload) >= 2:
        return decode_mpm(payload, strict=strict)
    if payload.startswith("hQ"):  # base64 of tag 85, the first byte of every CPM code
        return decode_cpm(payload, strict=strict)
    raise QrError("not an EMVCo payment code: merchant-presented codes start with '000201', "
                  "consumer-presented ones with 'hQVDUFYw'")
