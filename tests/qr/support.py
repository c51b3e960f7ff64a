"""Helpers for QR tests: payloads with a right CRC around whatever body a test needs."""

from __future__ import annotations

from consortia.qr import MerchantCode, crc_hex


def with_crc(body: str, *, lower: bool = False) -> str:
    """``body`` + "6304" + its CRC: readable as far as the CRC goes, whatever the body says."""
    head = body + "6304"
    crc = crc_hex(head)
    assert not lower or not crc.isdigit(), "this body's CRC has no letter to lower"
    return head + (crc.lower() if lower else crc)


def tlv(object_id: str, value: str) -> str:
    return f"{object_id}{len(value):02d}{value}"


# A minimal strict-clean body: everything an EMVCo reader needs.
ACCOUNT = tlv("26", tlv("00", "ORG.CONSORTIA") + tlv("01", "teahouse"))
BASE = (tlv("00", "01") + tlv("01", "11") + ACCOUNT + tlv("52", "5812") + tlv("53", "156")
        + tlv("58", "CN") + tlv("59", "Jade Teahouse") + tlv("60", "Shenzhen"))

TEAHOUSE = MerchantCode(merchant_name="Jade Teahouse", merchant_city="Shenzhen", country="CN",
                        mcc="5812", currency="156", account=("ORG.CONSORTIA", "teahouse"))
