"""Read-only views of payments over committed state (or any Reader)."""

from __future__ import annotations

from typing import Any, NamedTuple

from consortia.ledger.state import Reader
from consortia.modules.currency.amounts import format_amount
from consortia.modules.currency.types import Currency, Wallet, currency_key, wallet_key
from consortia.modules.governance.logic import active_member_of
from consortia.modules.payments.logic import order_status
from consortia.modules.payments.types import (
    MERCHANT_ID,
    ORDER_ID,
    Merchant,
    Order,
    Payment,
    Refund,
    Terminal,
    merchant_key,
    order_key,
    payment_key,
    terminal_key,
)

PAYMENTS_LIMIT_MAX = 200
TERMINALS_LIMIT_MAX = 100
DAY_MS = 86_400_000


def merchant(source: Reader, merchant_id: str) -> Merchant | None:
    if not MERCHANT_ID.fullmatch(merchant_id):
        return None
    return source.get(merchant_key(merchant_id), Merchant)


def order(source: Reader, merchant_id: str, order_id: str) -> Order | None:
    if not MERCHANT_ID.fullmatch(merchant_id) or not ORDER_ID.fullmatch(order_id):
        return None
    return source.get(order_key(merchant_id, order_id), Order)


def payment(source: Reader, payment_id: str) -> Payment | None:
    if len(payment_id) != 64:
        return None
    return source.get(payment_key(payment_id), Payment)


def refunds(source: Reader, payment_id: str) -> list[Refund]:
    return source.records(f"payments/refund/{payment_id}/", Refund)


def terminals(source: Reader, merchant_id: str) -> list[Terminal]:
    out = []
    for key in source.keys(f"payments/merchant_terminal/{merchant_id}/")[:TERMINALS_LIMIT_MAX]:
        device_key = source.get(key, str)
        found = None if device_key is None else source.get(terminal_key(device_key), Terminal)
        if found is not None:
            out.append(found)
    return out


def payments_of(source: Reader, merchant_id: str, *, since_ms: int = 0, before: str = "",
                limit: int = PAYMENTS_LIMIT_MAX) -> list[tuple[str, Payment]]:
    """The merchant's payments from ``since_ms`` on, newest first, each with its cursor
    (``<time_ms:013d>/<payment id>``); ``before`` continues after such a cursor."""
    limit = max(0, min(limit, PAYMENTS_LIMIT_MAX))
    out: list[tuple[str, Payment]] = []
    prefix = f"payments/merchant_payment/{merchant_id}/"
    keys = source.keys(prefix, start=f"{prefix}{since_ms:013d}",
                       stop=prefix + before if before else None)
    for key in reversed(keys):
        if len(out) >= limit:
            break
        payment_id = source.get(key, str)
        found = None if payment_id is None else source.get(payment_key(payment_id), Payment)
        if found is not None:
            out.append((key[len(prefix):], found))
    return out


class Totals(NamedTuple):
    payments: int
    paid_minor: int
    refunded_minor: int

    @property
    def net_minor(self) -> int:
        return self.paid_minor - self.refunded_minor


def day_totals(source: Reader, merchant_id: str, day_start_ms: int) -> Totals:
    """Payments taken in the day starting at ``day_start_ms`` and what of them was refunded."""
    count = paid = refunded = 0
    prefix = f"payments/merchant_payment/{merchant_id}/"
    for key in source.keys(prefix, start=f"{prefix}{day_start_ms:013d}",
                           stop=f"{prefix}{day_start_ms + DAY_MS:013d}"):
        payment_id = source.get(key, str)
        found = None if payment_id is None else source.get(payment_key(payment_id), Payment)
        if found is not None:
            count += 1
            paid += found.amount_minor
            refunded += found.refunded_minor
    return Totals(count, paid, refunded)


def may_see_merchant_books(source: Reader, m: Merchant, viewer: str | None) -> bool:
    """A merchant's orders and payments: its settlement wallet's owner, its terminals, its
    operator bank, the payment network and the regulator."""
    if viewer is None:
        return False
    wallet = source.get(wallet_key(m.wallet_id), Wallet)
    if wallet is not None and wallet.owner_key == viewer:
        return True
    terminal = source.get(terminal_key(viewer), Terminal)
    if terminal is not None and terminal.merchant_id == m.id:
        return True
    member = active_member_of(source, viewer)
    if member is None:
        return False
    return member.role in ("regulator", "payment_network") or (
        wallet is not None and wallet.operator == member.id)


def exponent_of(source: Reader, code: str) -> int:
    found = source.get(currency_key(code), Currency)
    return 2 if found is None else found.exponent


def merchant_view(m: Merchant) -> dict[str, Any]:
    """What anyone may know of a merchant: what its QR code says anyway."""
    return {"id": m.id, "name": m.name, "city": m.city, "country": m.country, "mcc": m.mcc,
            "currency": m.currency, "status": m.status, "onboarded_ms": m.onboarded_ms}


def order_view(o: Order, exponent: int, time_ms: int) -> dict[str, Any]:
    return {"merchant_id": o.merchant_id, "order_id": o.order_id,
            "amount": format_amount(o.amount_minor, exponent), "amount_minor": o.amount_minor,
            "currency": o.currency, "status": order_status(o, time_ms),
            "created_ms": o.created_ms, "expires_ms": o.expires_ms, "payment_id": o.payment_id}


def payment_view(p: Payment, exponent: int) -> dict[str, Any]:
    return {"id": p.id, "merchant_id": p.merchant_id, "payer_wallet": p.payer_wallet,
            "amount": format_amount(p.amount_minor, exponent), "amount_minor": p.amount_minor,
            "refunded": format_amount(p.refunded_minor, exponent),
            "refunded_minor": p.refunded_minor, "currency": p.currency, "order_id": p.order_id,
            "time_ms": p.time_ms, "height": p.height, "refunds": p.refunds}
