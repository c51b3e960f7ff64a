"""Records, payloads and state keys of the payments module: merchants and their terminals,
orders (dynamic QR), payments and refunds.

Money moves through the currency module's rules (``currency.logic.move``): the payments module
adds who may pay whom, for which order, once, and how much may be refunded.
"""

from __future__ import annotations

import re

import msgspec

# Merchant ids are wallet-id-like; order ids are what a till prints (EMVCo 62.01: ≤ 25 chars).
MERCHANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{2,39}")
ORDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,24}")
MCC = re.compile(r"[0-9]{4}")
COUNTRY = re.compile(r"[A-Z]{2}")
NAME_CHARS_MAX = 25  # EMVCo tag 59
CITY_CHARS_MAX = 15  # EMVCo tag 60
LABEL_CHARS_MAX = 40
REASON_CHARS_MAX = 140
ORDER_TTL_MS_DEFAULT = 5 * 60_000
ORDER_TTL_MS_MAX = 60 * 60_000  # a dynamic code lives at most an hour
TERMINAL_PRODUCT_TYPES = ("BARCODE_TERMINAL", "POS")

# statuses
ACTIVE = "active"
SUSPENDED = "suspended"
OPEN = "open"
PAID = "paid"
CANCELLED = "cancelled"
EXPIRED = "expired"  # never stored: an open order past expires_ms

# statement entry kinds (currency Entry.kind)
PAYMENT_OUT = "payment_out"
PAYMENT_IN = "payment_in"
REFUND_OUT = "refund_out"
REFUND_IN = "refund_in"


def merchant_key(merchant_id: str) -> str:
    return f"payments/merchant/{merchant_id}"


def merchant_by_wallet_key(wallet_id: str) -> str:
    """A merchant's settlement wallet -> the merchant (one merchant per wallet)."""
    return f"payments/merchant_wallet/{wallet_id}"


def terminal_key(device_key: str) -> str:
    return f"payments/terminal/{device_key}"


def merchant_terminal_key(merchant_id: str, device_key: str) -> str:
    return f"payments/merchant_terminal/{merchant_id}/{device_key}"


def order_key(merchant_id: str, order_id: str) -> str:
    return f"payments/order/{merchant_id}/{order_id}"


def payment_key(payment_id: str) -> str:
    return f"payments/payment/{payment_id}"


def merchant_payment_key(merchant_id: str, time_ms: int, payment_id: str) -> str:
    """A merchant's payments in time order (its payment list and daily totals)."""
    return f"payments/merchant_payment/{merchant_id}/{time_ms:013d}/{payment_id}"


def cpm_used_key(digest: str) -> str:
    """A consumer-presented token already used (single use)."""
    return f"payments/cpm_used/{digest}"


def refund_key(payment_id: str, seq: int) -> str:
    return f"payments/refund/{payment_id}/{seq:04d}"


# -- records ------------------------------------------------------------------------------------

class Merchant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    name: str
    city: str
    country: str
    mcc: str
    wallet_id: str  # settlement wallet (holder "merchant")
    currency: str
    network: str  # member id of the payment network that onboarded it
    status: str
    onboarded_ms: int


class Terminal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device_key: str
    merchant_id: str
    label: str
    certificate: str  # the product certificate it was registered under
    added_ms: int


class Order(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    merchant_id: str
    order_id: str
    amount_minor: int
    currency: str
    status: str  # open, paid, cancelled (expired is computed)
    created_ms: int
    expires_ms: int
    created_by: str  # signer key
    payment_id: str = ""


class Payment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str  # tx id
    merchant_id: str
    payer_wallet: str
    amount_minor: int
    currency: str
    time_ms: int
    height: int
    order_id: str = ""  # "" for a static code
    via: str = "mpm"  # mpm (the payer scanned) or cpm (the terminal scanned the payer's code)
    refunded_minor: int = 0
    refunds: int = 0


class Refund(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str  # tx id
    payment_id: str
    amount_minor: int
    reason: str
    time_ms: int


# -- payloads -----------------------------------------------------------------------------------

class OnboardMerchant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payment network onboards a merchant with its settlement wallet."""

    merchant_id: str
    name: str
    city: str
    country: str
    mcc: str
    wallet_id: str


class SetMerchantStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    merchant_id: str
    status: str  # active | suspended
    reason: str = ""


class AddTerminal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A certified terminal (a registered device of a BARCODE_TERMINAL or POS product)."""

    merchant_id: str
    device_key: str
    label: str = ""


class RemoveTerminal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    merchant_id: str
    device_key: str


class CreateOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The merchant (or one of its terminals) opens an order for a dynamic QR code."""

    merchant_id: str
    order_id: str
    amount: str
    ttl_ms: int = ORDER_TTL_MS_DEFAULT


class CancelOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    merchant_id: str
    order_id: str


class Pay(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A wallet pays a merchant: an order of a dynamic code (amount must match), or any
    amount the payer entered for a static code (no order_id)."""

    merchant_id: str
    from_wallet: str
    amount: str
    order_id: str = ""
    memo: str = ""


class ChargeCpm(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A merchant's terminal charges a consumer-presented code it scanned (optionally for one
    of the merchant's orders, whose amount must match)."""

    merchant_id: str
    code: str
    amount: str
    order_id: str = ""


class RefundPayment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    payment_id: str
    amount: str
    reason: str = ""
