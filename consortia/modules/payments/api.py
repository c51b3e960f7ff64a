"""HTTP routes of the payments module (reads; changes are signed txs sent to /v1/tx).

A merchant's public face (name, city, category, currency: what its QR code says anyway) is
public. Its orders, payments, terminals and totals are its books: the request must be signed
(``consortia.api.auth``) by the merchant's settlement-wallet owner, one of its terminals, its
operator bank, the payment network or the regulator (401 without a caller, 403 otherwise). A
payment is also visible to the payer's wallet owner and operator bank.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from consortia.api.auth import require_caller
from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.ledger.state import Reader
from consortia.modules.currency.amounts import format_amount
from consortia.modules.currency.types import Currency, Wallet, currency_key, wallet_key
from consortia.modules.governance.logic import active_member_of
from consortia.modules.payments import queries
from consortia.modules.payments.codes import ScannedCode, merchant_payload, read_merchant_code
from consortia.modules.payments.logic import order_status
from consortia.modules.payments.types import Merchant, Order
from consortia.node.node import Node
from consortia.qr import QrError
from consortia.qr.image import render_svg

router = APIRouter(prefix="/v1/payments", tags=["payments"])
NodeDep = Annotated[Node, Depends(get_node)]
CallerDep = Annotated[str, Depends(require_caller)]
TIME_MS_MAX = 2**53
SCAN_CHARS_MAX = 4_296  # the most characters a QR code holds


def merchant_or_404(state: Reader, merchant_id: str) -> Merchant:
    found = queries.merchant(state, merchant_id)
    if found is None:
        raise ApiError(404, "unknown_merchant", f"no merchant {merchant_id[:40]!r}")
    return found


def merchant_books(state: Reader, merchant_id: str, caller: str,
                   what: str = "books") -> Merchant:
    """The merchant, when ``caller`` may see its books (or, naming ``what``, its events)."""
    found = merchant_or_404(state, merchant_id)
    if not queries.may_see_merchant_books(state, found, caller):
        raise ApiError(403, "not_allowed", f"a merchant's {what} are for the merchant, its "
                       "terminals, its bank, the payment network and the regulator")
    return found


def _head_ms(node: Node) -> int:
    return node.chain.head.time_ms


@router.get("/merchants/{merchant_id}", summary="A merchant's public face (what its QR says)")
async def merchant(merchant_id: str, node: NodeDep) -> dict[str, Any]:
    return queries.merchant_view(merchant_or_404(node.chain.state, merchant_id))


@router.get("/merchants/{merchant_id}/terminals", summary="A merchant's certified terminals")
async def terminals(merchant_id: str, node: NodeDep, caller: CallerDep) -> dict[str, Any]:
    state = node.chain.state
    found = merchant_books(state, merchant_id, caller)
    return {"merchant_id": found.id, "terminals": [
        {"device_key": t.device_key, "label": t.label, "certificate": t.certificate,
         "added_ms": t.added_ms} for t in queries.terminals(state, found.id)]}


@router.get("/merchants/{merchant_id}/orders/{order_id}", summary="An order and its status "
            "(open, paid, cancelled, expired at the latest block time)")
async def order(merchant_id: str, order_id: str, node: NodeDep,
                caller: CallerDep) -> dict[str, Any]:
    state = node.chain.state
    found = merchant_books(state, merchant_id, caller)
    o = queries.order(state, found.id, order_id)
    if o is None:
        raise ApiError(404, "unknown_order", f"{found.id} has no order {order_id[:25]!r}")
    return queries.order_view(o, queries.exponent_of(state, o.currency), _head_ms(node))


@router.get("/merchants/{merchant_id}/payments", summary="A merchant's payments, newest first "
            "(paged: pass next_before back as before)")
async def payments(merchant_id: str, node: NodeDep, caller: CallerDep,
                   since_ms: Annotated[int, Query(ge=0, le=TIME_MS_MAX)] = 0,
                   before: Annotated[str, Query(max_length=80)] = "",
                   limit: Annotated[int, Query(ge=1)] = 50) -> dict[str, Any]:
    state = node.chain.state
    found = merchant_books(state, merchant_id, caller)
    exponent = queries.exponent_of(state, found.currency)
    limit = min(limit, node.config.page_size_max, queries.PAYMENTS_LIMIT_MAX)
    listed = queries.payments_of(state, found.id, since_ms=since_ms, before=before,
                                 limit=limit)
    return {"merchant_id": found.id, "currency": found.currency,
            "payments": [queries.payment_view(p, exponent) for _, p in listed],
            "next_before": listed[-1][0] if len(listed) == limit else None}


@router.get("/merchants/{merchant_id}/totals", summary="Payments taken in one day, refunds, "
            "net")
async def totals(merchant_id: str, node: NodeDep, caller: CallerDep,
                 day_start_ms: Annotated[int, Query(ge=0, le=TIME_MS_MAX)]) -> dict[str, Any]:
    state = node.chain.state
    found = merchant_books(state, merchant_id, caller)
    exponent = queries.exponent_of(state, found.currency)
    t = queries.day_totals(state, found.id, day_start_ms)
    return {"merchant_id": found.id, "currency": found.currency, "day_start_ms": day_start_ms,
            "payments": t.payments, "paid": format_amount(t.paid_minor, exponent),
            "refunded": format_amount(t.refunded_minor, exponent),
            "net": format_amount(t.net_minor, exponent), "paid_minor": t.paid_minor,
            "refunded_minor": t.refunded_minor, "net_minor": t.net_minor}


@router.get("/payments/{payment_id}", summary="A payment with its refunds (the merchant's "
            "books, and the payer)")
async def payment(payment_id: str, node: NodeDep, caller: CallerDep) -> dict[str, Any]:
    state = node.chain.state
    found = queries.payment(state, payment_id)
    if found is None:
        raise ApiError(404, "unknown_payment", f"no payment {payment_id[:64]!r}")
    merchant_ = merchant_or_404(state, found.merchant_id)
    payer = state.get(wallet_key(found.payer_wallet), Wallet)
    member = active_member_of(state, caller)
    payer_side = payer is not None and (payer.owner_key == caller or (
        member is not None and member.id == payer.operator))
    if not payer_side and not queries.may_see_merchant_books(state, merchant_, caller):
        raise ApiError(403, "not_allowed", "a payment is for its payer and the merchant's books")
    exponent = queries.exponent_of(state, found.currency)
    out = queries.payment_view(found, exponent)
    out["refund_list"] = [{"id": r.id, "amount": format_amount(r.amount_minor, exponent),
                           "amount_minor": r.amount_minor, "reason": r.reason,
                           "time_ms": r.time_ms} for r in queries.refunds(state, found.id)]
    return out


# -- QR codes -----------------------------------------------------------------------------------

class ScanRequest(BaseModel):
    payload: str = Field(max_length=SCAN_CHARS_MAX, description="the scanned QR code's text")


def _numeric(state: Reader, code: str) -> str:
    found = state.get(currency_key(code), Currency)
    assert found is not None, code
    return found.numeric


def _svg(payload: str) -> Response:
    return Response(render_svg(payload), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})


def _static_payload(state: Reader, merchant_id: str) -> str:
    found = merchant_or_404(state, merchant_id)
    return merchant_payload(found, _numeric(state, found.currency),
                            queries.exponent_of(state, found.currency))


def _order_payload(state: Reader, merchant_id: str, order_id: str, caller: str,
                   ) -> tuple[str, Order]:
    found = merchant_books(state, merchant_id, caller)
    o = queries.order(state, found.id, order_id)
    if o is None:
        raise ApiError(404, "unknown_order", f"{found.id} has no order {order_id[:25]!r}")
    exponent = queries.exponent_of(state, found.currency)
    return merchant_payload(found, _numeric(state, found.currency), exponent, o), o


@router.get("/merchants/{merchant_id}/qr", summary="The merchant's static EMVCo code (the "
            "payer enters the amount)")
async def static_qr(merchant_id: str, node: NodeDep) -> dict[str, Any]:
    return {"payload": _static_payload(node.chain.state, merchant_id)}


@router.get("/merchants/{merchant_id}/qr.svg", summary="The static code as an SVG image")
async def static_qr_svg(merchant_id: str, node: NodeDep) -> Response:
    return _svg(_static_payload(node.chain.state, merchant_id))


@router.get("/merchants/{merchant_id}/orders/{order_id}/qr", summary="An order's dynamic "
            "EMVCo code: amount, order id (62.01) and expiry (62.50)")
async def order_qr(merchant_id: str, order_id: str, node: NodeDep,
                   caller: CallerDep) -> dict[str, Any]:
    state = node.chain.state
    payload, o = _order_payload(state, merchant_id, order_id, caller)
    return {"payload": payload, "order": queries.order_view(
        o, queries.exponent_of(state, o.currency), _head_ms(node))}


@router.get("/merchants/{merchant_id}/orders/{order_id}/qr.svg",
            summary="An order's dynamic code as an SVG image")
async def order_qr_svg(merchant_id: str, order_id: str, node: NodeDep,
                       caller: CallerDep) -> Response:
    return _svg(_order_payload(node.chain.state, merchant_id, order_id, caller)[0])


@router.post("/scan", summary="What a scanned merchant code says, and whether it can be paid "
             "here (merchant known and active, order open)")
async def scan(body: ScanRequest, node: NodeDep) -> dict[str, Any]:
    try:
        scanned = read_merchant_code(body.payload)
    except QrError as exc:
        raise ApiError(400, "unreadable_code", str(exc)) from None
    return scan_view(node.chain.state, scanned, _head_ms(node))


def scan_view(state: Reader, scanned: ScannedCode, time_ms: int) -> dict[str, Any]:
    """A scanned code for a wallet: the merchant, amount and currency, and whether (and why
    not) it can be paid on this network."""
    currencies = {c.numeric: c.code for c in state.records("currency/currency/", Currency)}
    out: dict[str, Any] = {
        "merchant_name": scanned.merchant_name, "merchant_city": scanned.merchant_city,
        "currency_numeric": scanned.currency_numeric,
        "currency": currencies.get(scanned.currency_numeric), "amount": scanned.amount,
        "merchant_id": scanned.merchant_id, "order_id": scanned.order_id,
        "expires_ms": scanned.expires_ms, "warnings": list(scanned.warnings),
        "wallet_id": scanned.wallet_id,
        "kind": "person" if scanned.wallet_id else (
            "merchant" if scanned.merchant_id else "foreign"),
        "payable": False, "reason": ""}
    if scanned.wallet_id is not None:
        wallet = state.get(wallet_key(scanned.wallet_id), Wallet)
        if wallet is None:
            out["reason"] = f"no wallet {scanned.wallet_id[:40]} on this network"
        elif currencies.get(scanned.currency_numeric) != wallet.currency:
            out["reason"] = "the code's currency is not the wallet's"
        else:
            out["payable"] = True
        return out
    found = None if scanned.merchant_id is None else queries.merchant(state,
                                                                       scanned.merchant_id)
    if scanned.merchant_id is None:
        out["reason"] = "this code belongs to another payment scheme"
    elif found is None:
        out["reason"] = f"no merchant {scanned.merchant_id[:40]} on this network"
    elif found.status != "active":
        out["reason"] = f"merchant {found.id} is suspended"
    elif scanned.order_id is not None:
        o = queries.order(state, found.id, scanned.order_id)
        status = None if o is None else order_status(o, time_ms)
        if status != "open":
            out["reason"] = f"order {scanned.order_id} is {status or 'unknown'}"
    if found is not None and not out["reason"]:
        if currencies.get(scanned.currency_numeric) != found.currency:
            out["reason"] = "the code's currency is not the merchant's"
        else:
            out["payable"] = True
    return out
