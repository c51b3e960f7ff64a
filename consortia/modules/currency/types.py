"""Records, payloads and state keys of the currency module.

Amounts in payloads are decimal strings (what a wallet shows is what its owner signs); records
hold integers in minor units (``*_minor``).
"""

from __future__ import annotations

import re

import msgspec

HOLDERS = ("person", "merchant")
ACTIVE = "active"
FROZEN = "frozen"
FREEZE_REASONS = ("court_order", "suspected_fraud", "kyc_review", "customer_request",
                  "sanctions", "other")
MEMO_CHARS_MAX = 140
LABEL_CHARS_MAX = 100
DEVICES_PER_WALLET_MAX = 8  # app instances and terminals bound to one wallet

PREFIX = "currency/"

# Wallet and tier ids: what the ledger accepts, and so what forms check before submitting.
WALLET_ID = re.compile(r"[a-z0-9][a-z0-9_-]{2,39}")
TIER_ID = WALLET_ID


def currency_key(code: str) -> str:
    return f"currency/currency/{code}"


def tier_key(code: str, tier: str) -> str:
    return f"currency/tier/{code}/{tier}"


def reserve_key(code: str, bank: str) -> str:
    return f"currency/reserve/{code}/{bank}"


def supply_key(code: str) -> str:
    return f"currency/supply/{code}"


def wallet_key(wallet_id: str) -> str:
    return f"currency/wallet/{wallet_id}"


def device_key_of(device_key: str) -> str:
    """A device key bound to a wallet -> its binding."""
    return f"currency/device/{device_key}"


def wallet_device_key(wallet_id: str, device_key: str) -> str:
    """The devices bound to a wallet, in key order."""
    return f"currency/wallet_device/{wallet_id}/{device_key}"


def owner_index_key(owner_key: str, wallet_id: str) -> str:
    return f"currency/owner/{owner_key}/{wallet_id}"


def entry_key(wallet_id: str, seq: int) -> str:
    return f"currency/entry/{wallet_id}/{seq:012d}"


class Currency(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: str  # ISO 4217 alpha, e.g. "CNY"
    numeric: str  # ISO 4217 numeric, e.g. "156"
    exponent: int  # minor-unit exponent, e.g. 2
    issuer: str  # member id of the issuing central bank
    name: str
    added_ms: int


class Tier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A wallet tier (KYC level) of a currency and its limits, set through governance."""

    currency: str
    tier: str
    name: str
    balance_max_minor: int
    payment_max_minor: int
    daily_max_minor: int


class Reserve(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A bank's reserve account at the issuing central bank, in one currency."""

    currency: str
    bank: str
    balance_minor: int


class Supply(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Invariant: in_reserves + in_wallets == issued - redeemed."""

    currency: str
    issued_minor: int = 0
    redeemed_minor: int = 0
    in_reserves_minor: int = 0
    in_wallets_minor: int = 0


class Wallet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    currency: str
    operator: str  # member id of the bank that opened it
    owner_key: str  # the key that may spend from it (hex)
    holder: str  # "person" or "merchant"
    label: str
    tier: str
    balance_minor: int
    status: str  # "active" or "frozen"
    freeze_reason: str
    day: int  # the day spent_today_minor counts, in the network's time zone
    spent_today_minor: int
    entries: int  # number of statement entries so far
    opened_ms: int
    frozen_by: str = ""  # "operator" or "regulator": only the regulator lifts its own freeze


class Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One line of a wallet's statement."""

    wallet: str
    seq: int
    tx_id: str
    kind: str  # distribute, collect, transfer_in/out, payment_in/out, refund_in/out
    amount_minor: int  # signed: + credit, - debit
    balance_minor: int  # running balance after this entry
    counterparty: str  # a wallet id, or "reserve:<bank>"
    memo: str
    time_ms: int
    height: int


# -- payloads ----------------------------------------------------------------------------------

class AddCurrency(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Governance only (a proposal of type invoke)."""

    code: str
    numeric: str
    exponent: int
    issuer: str
    name: str


class SetTier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Governance only: create or change a tier's limits (decimal strings)."""

    currency: str
    tier: str
    name: str
    balance_max: str
    payment_max: str
    daily_max: str


class Issue(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The issuing central bank credits a bank's reserve."""

    currency: str
    bank: str
    amount: str


class Redeem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The issuing central bank debits a bank's reserve."""

    currency: str
    bank: str
    amount: str


class OpenWallet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An operator bank opens a wallet (after KYC) for a person or merchant."""

    wallet_id: str
    currency: str
    owner_key: str
    tier: str
    holder: str = "person"
    label: str = ""


class SetWalletTier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    wallet_id: str
    tier: str


class Distribute(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Operator: reserve → wallet (the person paid in bank deposits)."""

    wallet_id: str
    amount: str


class Collect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Wallet owner: wallet → its operator's reserve (back to bank deposits)."""

    wallet_id: str
    amount: str


class Freeze(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    wallet_id: str
    reason: str


class Unfreeze(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    wallet_id: str
    reason: str


class Transfer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Wallet to wallet, same currency; signed by the sending wallet's owner key."""

    from_wallet: str
    to_wallet: str
    amount: str
    memo: str = ""


class BindDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Wallet owner: let a certified device (a wallet app instance, a merchant's terminal)
    spend from the wallet. Its txs must carry the device's credential, which certification
    admits only while the product's certificate is valid."""

    wallet_id: str
    device_key: str
    label: str = ""


class UnbindDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Wallet owner or its operator bank (a lost phone): the device may no longer spend."""

    wallet_id: str
    device_key: str


class WalletDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device_key: str
    wallet_id: str
    label: str
    bound_ms: int
