"""The nouns of the QR codec: what a merchant code says, one consumer-presented application, and
a decoded code of either mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["mpm", "cpm"]


@dataclass(frozen=True)
class MerchantCode:
    """What a merchant-presented code says (the input of ``encode_mpm``).

    Text fields are as EMVCo sizes them (name ≤25, city ≤15, labels ≤25, postal code ≤10);
    ``merchant_name`` and ``merchant_city`` are printable ASCII, and a name or city in another
    script goes in ``alt_name``/``alt_city`` (template 64, with ``alt_language``).
    """

    merchant_name: str
    merchant_city: str
    country: str  # ISO 3166-1 alpha-2, ID 58
    mcc: str  # ISO 18245, 4 digits, ID 52
    currency: str  # ISO 4217 numeric, e.g. "156", ID 53
    amount: str | None = None  # ID 54, e.g. "12.50"; absent: the wallet asks
    account: tuple[str, str] | None = None  # (GUID, merchant account id) in template 26
    bill_number: str | None = None  # 62.01, the order reference
    reference_label: str | None = None  # 62.05
    terminal_label: str | None = None  # 62.07
    purpose: str | None = None  # 62.08
    postal_code: str | None = None  # ID 61
    expires_ms: int | None = None  # Consortia template 62.50 (see docs/qr.md)
    alt_language: str | None = None  # 64.00, ISO 639 alpha-2, e.g. "ZH"
    alt_name: str | None = None  # 64.01
    alt_city: str | None = None  # 64.02


@dataclass(frozen=True)
class CpmApplication:
    """One application template (tag 61) of a consumer-presented code.

    In Consortia the code is a single-use payment token: ``cryptogram`` (9F26, inside the
    transparent template 63) carries the wallet device key's signature and ``atc`` (9F36) the
    token's counter; ``issuer_data`` holds any other primitive of template 63 as (tag hex,
    bytes).
    """

    aid: str  # 4F, upper-case hex, 5–16 bytes
    pan: str | None = None  # 5A, digits (BCD, padded with F)
    track2: str | None = None  # 57, digits with one "D" separator (BCD, padded with F)
    label: str | None = None  # 50, ≤16 characters
    cardholder_name: str | None = None  # 5F20, 2–26 characters
    last4: str | None = None  # 9F25, the PAN's last 4 digits
    cryptogram: bytes | None = None  # 63/9F26
    atc: int | None = None  # 63/9F36, 0..65535
    issuer_data: tuple[tuple[str, bytes], ...] = ()  # 63/other tags

    def to_json(self) -> dict[str, Any]:
        return {
            "aid": self.aid, "pan": self.pan, "track2": self.track2, "label": self.label,
            "cardholder_name": self.cardholder_name, "last4": self.last4,
            "cryptogram": None if self.cryptogram is None else self.cryptogram.hex().upper(),
            "atc": self.atc,
            "issuer_data": {tag: value.hex().upper() for tag, value in self.issuer_data},
        }


@dataclass
class Decoded:
    """A code that could be read: its objects, the EMVCo rules it breaks (``warnings``), and the
    fields a wallet or terminal needs by name.

    MPM ``objects`` maps each ID to its value, or, for a template (26–51, 62, 64, 80–99), to
    an object of its sub-IDs (62's 50–99 nest once more). CPM ``objects`` maps each BER tag
    (upper-case hex) to its value in hex, a template to an object, and tag 61 to a list of
    its templates (a code may carry two).
    """

    mode: Mode
    objects: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    # merchant-presented
    merchant_name: str | None = None
    merchant_city: str | None = None
    country: str | None = None
    currency: str | None = None
    amount: str | None = None
    mcc: str | None = None
    initiation: Literal["static", "dynamic"] | None = None
    crc: str | None = None
    # consumer-presented
    payload_format: str | None = None
    applications: tuple[CpmApplication, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The object ``consortia qr decode`` prints."""
        head: dict[str, Any] = {"mode": self.mode, "objects": self.objects,
                                "warnings": list(self.warnings)}
        if self.mode == "cpm":
            return head | {"payload_format": self.payload_format,
                           "applications": [app.to_json() for app in self.applications]}
        return head | {
            "merchant_name": self.merchant_name, "merchant_city": self.merchant_city,
            "country": self.country, "currency": self.currency, "amount": self.amount,
            "mcc": self.mcc, "initiation": self.initiation, "crc": self.crc,
        }

    def merchant_code(self) -> MerchantCode:
        """The MerchantCode this MPM code says. Raises QrError when it is not an MPM code or
        lacks a name, city, country, MCC or currency."""
        from consortia.qr.mpm import merchant_code  # mpm imports this module

        return merchant_code(self)
